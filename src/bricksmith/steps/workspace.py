"""workspace.repo: the workspace's repo (Git folder) checked out at the pushed commit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bricksmith.steps.base import Outputs, Step, StepContext


class SyncWorkspaceRepo(Step):
    key = "workspace.repo"
    deps = ("git.push",)
    title = "create or update the workspace repo at the pushed commit"

    def __init__(self, *, name: str, target: Mapping[str, Any], token_env: str | None,
                 git: Mapping[str, Any] | None = None) -> None:
        self.name, self.target, self.token_env = name, dict(target), token_env
        # repo.provider / git_username / git_email: only the ones the spec sets
        self.git = {k: v for k, v in (git or {}).items() if v is not None}

    def inputs(self) -> dict[str, Any]:
        inputs = {"name": self.name, "target": self.target}
        if self.git:  # absent when unset: older states keep their fingerprints
            inputs["git"] = self.git
        return inputs

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        return ctx.backend.repo_drift(outputs, project=ctx.project_dir)

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return ctx.backend.repo_probes(outputs)

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        _refuse_edits(ctx)
        pushed = upstream["git.push"]
        outputs = ctx.backend.sync_repo(
            name=self.name,
            location=pushed["remote"],
            branch=pushed["branch"],
            commit=pushed["commit"],
            token_env=self.token_env,
            git=self.git,
            project=ctx.project_dir,
            log=ctx.log,
            previous=ctx.previous,
        )
        ctx.log(f"workspace repo {outputs['path']} at {outputs['commit'][:10]}")
        kept = outputs.get("_kept_files")
        if kept:
            shown = ", ".join(kept[:5]) + (f" ... ({len(kept)} in all)" if len(kept) > 5 else "")
            ctx.log(f"removed or reset files that are not in the commit, keeping a copy of "
                    f"each in {outputs['_kept']}: {shown}")
        return outputs


def _refuse_edits(ctx: StepContext) -> None:
    """Apply checks for workspace edits before any step runs; this catches one made while it
    ran (the Git folder is left as it is) unless ``--discard-workspace-edits`` was given."""
    finder = getattr(ctx.backend, "repo_edits", None)
    if ctx.discard_workspace_edits or finder is None or not ctx.previous.get("path"):
        return
    edits = finder(ctx.previous)
    if not edits:
        return
    from bricksmith.backends.workspace_edits import describe_edits
    from bricksmith.errors import WorkspaceEdits

    spec = ctx.spec.path
    raise WorkspaceEdits(
        f"the workspace Git folder {ctx.previous['path']} was edited while this apply ran: "
        f"{describe_edits(edits)}; it was left as it is",
        hint=f"bring them home with `bricksmith pull {spec}`, or discard them with "
        f"`bricksmith apply {spec} --discard-workspace-edits` (a copy of each is kept under "
        f"{ctx.root / 'workspace-edits'}/)",
    )
