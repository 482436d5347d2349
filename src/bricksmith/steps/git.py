"""git.commit and git.push: the project in git, pushed to its remote."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bricksmith.backends import git as gitops
from bricksmith.steps.base import Outputs, Step, StepContext


class CommitProject(Step):
    key = "git.commit"
    deps = ("project.params",)
    title = "commit the project when its tree changed"

    def __init__(self, *, branch: str, message: str, author: gitops.Identity, name: str) -> None:
        self.branch, self.message, self.author, self.name = branch, message, author, name

    def inputs(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "message": self.message,
            "author": f"{self.author.name} <{self.author.email}>",
        }

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        changed = gitops.uncommitted_changes(ctx.project_dir)
        if changed:
            shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
            return [f"uncommitted changes in the project: {shown}"]
        head = gitops.project_head(ctx.project_dir)
        if head != outputs.get("commit"):
            return [f"project HEAD moved: {str(outputs.get('commit'))[:10]} → {str(head)[:10]}"]
        return []

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return gitops.worktree_probes(ctx.project_dir, untracked=True)

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        commit, made = gitops.commit_all(
            ctx.project_dir,
            branch=self.branch,
            message=self.message,
            identity=self.author,
            first_message=f"Create the Kedro project {self.name} (bricksmith)",
        )
        ctx.log(f"committed {commit[:10]}" if made else f"nothing to commit; HEAD {commit[:10]}")
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
