"""git.commit and git.push: the project in git, pushed to its remote."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bricksmith.backends import git as gitops
from bricksmith.errors import BricksmithError
from bricksmith.gitremote import Identity, local_remote_path, remote_location
from bricksmith.steps.base import Outputs, Step, StepContext


def own_paths(ctx: StepContext) -> list[Path]:
    """bricksmith's own folders that may lie inside the project: every target's root (state,
    lock, logs, emulated workspace), the cache (run environments, spec cache, plan memos) and
    a local bare remote. They never enter the project's commits."""
    from bricksmith.cachedir import default_cache_dir

    spec = ctx.spec
    paths = [ctx.root, default_cache_dir()]
    paths += [spec.resolve_path(target.root) for target in spec.workflow.targets.values()]
    remote = local_remote_path(remote_location(spec.workflow.repo.remote, spec.base_dir))
    if remote is not None:
        paths.append(remote)
    return paths


class CommitProject(Step):
    key = "git.commit"
    deps = ("project.params",)
    title = "commit the project when its tree changed"
    repair_changes_outputs = True  # the changes found become a new commit

    def __init__(
        self, *, branch: str, message: str | None, author: Identity, name: str
    ) -> None:
        self.branch, self.message, self.author, self.name = branch, message, author, name

    def inputs(self) -> dict[str, Any]:
        # repo.message is not an input: it only words the next commit, when there is one
        return {"branch": self.branch, "author": f"{self.author.name} <{self.author.email}>"}

    def _status(self, ctx: StepContext) -> tuple[gitops.ProjectStatus | None, list | None]:
        if not (ctx.project_dir / ".git").exists():
            return None, None
        status, probes = gitops.project_status(ctx.project_dir, own_paths(ctx))
        refusal = gitops.branch_refusal(ctx.project_dir, status, self.branch)
        if refusal is not None and status.head is not None:
            raise refusal  # apply would refuse: plan says so, naming the branch
        return status, probes

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        status, _probes = self._status(ctx)
        if status is None:
            return ["the project is not a git repository yet"]
        if status.changed:
            shown = ", ".join(status.changed[:5]) + (" ..." if len(status.changed) > 5 else "")
            return [f"uncommitted changes in the project: {shown}"]
        if status.head != outputs.get("commit"):
            return [f"project HEAD moved: {str(outputs.get('commit'))[:10]} → "
                    f"{str(status.head)[:10]}"]
        return []

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        try:
            return self._status(ctx)[1]
        except BricksmithError:
            return None

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        commit, made = gitops.commit_all(
            ctx.project_dir,
            branch=self.branch,
            message=self.message,
            identity=self.author,
            first_message=f"Create the Kedro project {self.name} (bricksmith)",
            own=own_paths(ctx),
        )
        if made:
            subject = gitops.commit_subject(ctx.project_dir, commit)
            ctx.log(f"committed {commit[:10]} on {self.branch}: {subject}")
        else:
            ctx.log(f"nothing to commit; {self.branch} at {commit[:10]}")
        return {"commit": commit}


class PushProject(Step):
    key = "git.push"
    deps = ("git.commit",)
    title = "push the project to its remote"

    def __init__(self, *, location: str, branch: str, token_env: str | None) -> None:
        self.location, self.branch, self.token_env = location, branch, token_env

    def inputs(self) -> dict[str, Any]:
        return {"remote": self.location, "branch": self.branch, "token_env": self.token_env}

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        there = gitops.remote_branch_commit(self.location, self.branch, self.token_env)
        if there != outputs.get("commit"):
            return [
                f"remote branch {self.branch} is at {str(there)[:10]}, "
                f"not the pushed {str(outputs.get('commit'))[:10]}"
            ]
        return []

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        commit = outputs.get("commit")
        if not isinstance(commit, str):
            return None
        return gitops.remote_branch_probes(self.location, self.branch, commit, self.token_env)

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        if gitops.ensure_bare_remote(self.location, self.branch):
            ctx.log(f"created the bare repository {self.location}")
        commit = gitops.push(
            ctx.project_dir, location=self.location, branch=self.branch, token_env=self.token_env
        )
        ctx.log(f"pushed {commit[:10]} to {self.branch}")
        return {"remote": self.location, "branch": self.branch, "commit": commit}
