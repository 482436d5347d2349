"""notebook.deploy: the project notebook, in Databricks SOURCE format, in the workspace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bricksmith.steps.base import Outputs, Step, StepContext

NOTEBOOK_FORMAT = 2  # bump when render_notebook's output changes shape


class DeployNotebook(Step):
    key = "notebook.deploy"
    title = "deploy the notebook that runs the project"

    def __init__(
        self, *, name: str, data_target: str | None, target_settings: Mapping[str, Any]
    ) -> None:
        self.name, self.data_target = name, data_target
        self.target_settings = dict(target_settings)

    def inputs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_target": self.data_target,
            "workspace": self.target_settings,
            "format": NOTEBOOK_FORMAT,
        }

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        return ctx.backend.notebook_drift(outputs)

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return ctx.backend.notebook_probes(outputs)

    def source(self, backend) -> str:
        """The notebook's source as apply deploys it on ``backend`` (Databricks SOURCE)."""
        from bricksmith.notebook import render_notebook

        data_root = backend.data_path(self.data_target) if self.data_target else ""
        return render_notebook(
            title=self.name, repo_path=backend.repo_path(self.name), data_root=data_root
        )

    def edit(self, backend, outputs: Outputs, base: str = "") -> dict[str, Any] | None:
        """The deployed notebook (recorded in ``outputs``) as a workspace edit, when it was
        edited there since apply deployed it: ``{"path", "change": "modified", "diff": from
        the source apply deploys to the workspace's, "base", "notebook": True}``; else None.
        Raises what the backend raises when it cannot read the notebook."""
        from bricksmith.backends.workspace_edits import MODIFIED, unified_diff

        finder = getattr(backend, "notebook_edited", None)
        if finder is None or not outputs.get("path"):
            return None
        current = finder(outputs)
        if current is None:
            return None
        label = outputs["path"].lstrip("/")
        diff = unified_diff(label, self.source(backend).encode(), current)
        return {"path": outputs["path"], "change": MODIFIED, "diff": diff, "base": base,
                "notebook": True}

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        backend = ctx.backend
        _keep_edit(self, ctx)
        data_root = backend.data_path(self.data_target) if self.data_target else ""
        source = self.source(backend)
        outputs = backend.deploy_notebook(backend.notebook_path(self.name), source)
        ctx.log(f"deployed the notebook {outputs['path']}")
        return {**outputs, "data_root": data_root}


def _keep_edit(step: DeployNotebook, ctx: StepContext) -> None:
    """An edit of the deployed notebook made in the workspace is never overwritten silently:
    apply checks for it before any step runs, and this catches one made while it ran (the
    notebook is left as it is) unless ``--discard-workspace-edits`` was given; then a copy is
    kept under ``<root>/workspace-edits/<UTC time>/notebook/``."""
    import time

    from bricksmith.atomic import write_bytes_atomically
    from bricksmith.errors import WorkspaceEdits

    edit = step.edit(ctx.backend, ctx.previous) if ctx.previous.get("sha256") else None
    if edit is None:
        return
    keep = ctx.root / "workspace-edits"
    if not ctx.discard_workspace_edits:
        spec = ctx.spec.path
        raise WorkspaceEdits(
            f"the deployed notebook {edit['path']} was edited in the workspace while this "
            "apply ran; it was left as it is",
            hint=f"bricksmith generates it, so `bricksmith pull` does not bring it home: copy "
            f"what you need into the project, then run `bricksmith apply {spec} "
            f"--discard-workspace-edits` (a copy is kept under {keep}/)",
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    copy = keep / stamp / "notebook" / f"{step.name}.py"
    write_bytes_atomically(copy, ctx.backend.notebook_edited(ctx.previous) or b"",
                           create_folder=True)
    ctx.log(f"replacing the deployed notebook {edit['path']}, edited in the workspace; "
            f"a copy of the edited one is in {copy}")
