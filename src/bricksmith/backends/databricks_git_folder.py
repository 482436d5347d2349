"""The databricks backend's workspace Git folder (Repos API): where it is, cloning or pulling
it to the pushed commit (Git credential, edits kept then discarded; see databricks_repos.py and
databricks_edits.py), its drift from the recorded commit and branch, and removing it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bricksmith.backends.base import Removal
from bricksmith.errors import BackendError, GitError


class DatabricksGitFolder:
    """Mixed into ``DatabricksBackend`` (which gives ``client``, ``errors``, ``user`` and
    ``_edits``)."""

    # -- workspace repos (Git folders; see databricks_repos.py) --------------------------------

    def _git_folder_parent(self) -> str:
        """The folder holding the Git folder, as the API names it (no /Workspace prefix)."""
        parent = self.git_folder_parent or "/Repos/{user}"
        return parent.replace("{user}", self.user).removeprefix("/Workspace").rstrip("/")

    def repo_path(self, name: str) -> str:
        return f"/Workspace{self._repo_api_path(name)}"

    def _repo_api_path(self, name: str) -> str:
        return f"{self._git_folder_parent()}/{name}"

    def sync_repo(
        self, *, name: str, location: str, branch: str, commit: str, token_env: str | None,
        git: dict[str, Any] | None = None, project: Path | None = None,
        log: Callable[[str], None] = lambda message: None, previous: dict | None = None,
    ) -> dict[str, Any]:
        """The Git folder ``name`` on ``branch`` at ``commit``. ``previous``: what the last
        sync returned (its listing spares exports). ``git``: repo.provider,
        git_username, git_email; ``project``: the local project (its git history tells
        uncommitted changes in the Git folder apart). Edits in the folder (the workspace.repo
        step refuses them unless told to discard) are discarded after a copy of each file the
        commit does not hold is kept under ``keep_dir`` (``_kept``, ``_kept_files``), as on the
        local backend. Raises GitError for an SSH or unknown-host remote."""
        import os

        from bricksmith.backends import databricks_edits as edits
        from bricksmith.backends import databricks_repos as repos

        git = git or {}
        provider = repos.provider_for(location, git.get("provider"))
        credential_id = None
        if token_env:
            token = os.environ.get(token_env)
            if not token:
                raise GitError(
                    f"environment variable {token_env} (repo.token_env) is not set",
                    hint=f"export {token_env}=<token> before running bricksmith",
                )
            with self.errors(f"set up the {provider} Git credential"):
                credential_id = repos.ensure_credential(self.client, provider, token, git, log)
        api_path = self._repo_api_path(name)
        with self.errors(f"create or update the workspace Git folder {api_path}"):
            repo = repos.find(self.client, api_path)
            created = repo is None
            if created:
                repo = repos.create(self.client, url=location, provider=provider,
                                    api_path=api_path, credential_id=credential_id)
            if repo is None:
                raise BackendError(f"workspace repo {api_path} could not be created or found")
            if repo.url and repo.url != location:
                raise BackendError(
                    f"workspace repo {api_path} is a clone of {repo.url}, not {location}",
                    hint="delete or rename that repo in the workspace, or change repo.remote",
                )
            # a folder made just now, or one whose clone never finished, holds no edits
            ready = None if created or not repo.head_commit_id else edits.before_pull(
                self.client, api_path, repo.head_commit_id, commit, project or self.project,
                self.keep_dir, self._exports,
                recorded=(previous or {}).get("_listing")
                if (previous or {}).get("commit") == repo.head_commit_id else None)
            self._pull(repo.id, api_path, branch, discard=ready is not None)
            if ready is not None:
                edits.remove_stray(self.client, api_path, ready["stray"])
            repo = self.client.repos.get(repo.id)
            listed = edits.recorded_times(self.client, api_path)
        if repo.head_commit_id != commit:
            raise GitError(
                f"workspace repo {api_path} is at {str(repo.head_commit_id)[:10]} after pulling "
                f"{branch}, not at the pushed commit {commit[:10]}",
                hint="someone pushed to the branch since; apply again to commit and push on top",
            )
        kept = {"_kept": str(ready["kept"]), "_kept_files": ready["kept_files"]} \
            if ready is not None and ready["kept"] is not None else {}
        return {
            "path": self.repo_path(name),
            "repo_id": repo.id,
            "branch": branch,
            "commit": commit,
            "_listing": listed,  # {path: modified_at}: what repo_edits need not export
            **kept,
        }

    def _pull(self, repo_id: int, api_path: str, branch: str, discard: bool) -> None:
        from databricks.sdk import errors as sdk

        options = {"dangerously_force_discard_all": True} if discard else {}
        try:
            self.client.repos.update(repo_id, branch=branch, **options)
        except (sdk.BadRequest, sdk.InvalidState, sdk.ResourceConflict) as exc:
            raise GitError(
                f"the workspace Git folder /Workspace{api_path} could not pull {branch}: {exc}",
                hint="if it has uncommitted changes that conflict with the pull, copy what you "
                "want into the project and reset the Git folder in the workspace (or run "
                "apply --discard-workspace-edits), then apply again",
            ) from None

    # what the workspace holds is known only by asking it: no probe stands for these checks,
    # so plans of Databricks targets are never memoised
    def repo_probes(self, outputs: dict[str, Any]) -> None:
        return None

    def notebook_probes(self, outputs: dict[str, Any]) -> None:
        return None

    def repo_drift(self, outputs: dict[str, Any], project: Path | None = None) -> list[str]:
        from databricks.sdk import errors as sdk

        from bricksmith.backends.workspace_edits import describe_edits

        with self.errors("read the workspace repo"):
            try:
                repo = self.client.repos.get(outputs["repo_id"])
            except sdk.NotFound:
                return [f"workspace repo {outputs['path']} is missing"]
            reasons = []
            if repo.head_commit_id != outputs["commit"]:
                reasons.append(
                    f"workspace repo is at {str(repo.head_commit_id)[:10]}, "
                    f"not {outputs['commit'][:10]}"
                )
            if repo.branch != outputs["branch"]:
                reasons.append(
                    f"workspace repo is on branch {repo.branch}, not {outputs['branch']}"
                )
            if repo.path and repo.head_commit_id:
                found = self._edits(repo, outputs, project)
                if found:
                    reasons.append("workspace Git folder has uncommitted changes: "
                                   + describe_edits(found))
        return reasons

    def _repo_or_none(self, outputs: dict[str, Any]):
        """The workspace repo recorded in ``outputs`` (by id), or None when it is gone (a repo
        moved elsewhere since is someone's own now: gone too)."""
        from databricks.sdk import errors as sdk

        try:
            repo = self.client.repos.get(outputs["repo_id"])
        except sdk.NotFound:
            return None
        recorded = outputs["path"].removeprefix("/Workspace")
        if repo.path and repo.path.removeprefix("/Workspace") != recorded:
            return None
        return repo

    def repo_exists(self, outputs: dict[str, Any]) -> bool:
        with self.errors(f"read the workspace repo {outputs['path']}"):
            return self._repo_or_none(outputs) is not None

    def remove_repo(self, outputs: dict[str, Any]) -> Removal:
        from databricks.sdk import errors as sdk

        with self.errors(f"delete the workspace repo {outputs['path']}"):
            if self._repo_or_none(outputs) is None:
                return Removal()
            try:
                self.client.repos.delete(outputs["repo_id"])
            except sdk.NotFound:  # deleted meanwhile
                return Removal()
        return Removal(removed=1)
