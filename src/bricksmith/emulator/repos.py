"""Repos (Git folders) and Git credentials.

Creating a repo really clones its ``url`` (in tests, a local path or ``file://`` URL) into the
workspace; updating it with ``branch`` fetches and checks out that branch's latest commit (the
UI's "pull"), with ``tag`` checks out the tag. Local changes in the clone are discarded.

Git credentials: one per user, as the real API allows (a second create is 400 ``INVALID_STATE``,
"Only one Git credential is supported at this time..."). The personal access token is kept in
memory only and never answered, logged or written; it is not used for cloning (remotes here
are local).
"""

from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.emulator.paths import Layout, workspace_path
from bricksmith.emulator.wire import (
    ApiError,
    Request,
    already_exists,
    as_int,
    invalid,
    not_found,
    unsupported,
)
from bricksmith.emulator.workspace import Workspace

PROVIDERS = (
    "gitHub",
    "bitbucketCloud",
    "gitLab",
    "azureDevOpsServices",
    "gitHubEnterprise",
    "bitbucketServer",
    "gitLabEnterpriseEdition",
    "awsCodeCommit",
)
PAGE_SIZE = 20
PROVIDER_KEY = "bricksmith-emulator.provider"  # kept in the clone's .git/config


def provider_name(value: Any) -> str:
    for name in PROVIDERS:
        if str(value or "").lower() == name.lower():
            return name
    raise invalid(f"Invalid Git provider {value!r}: use one of {', '.join(PROVIDERS)}.")


class Repos:
    def __init__(self, layout: Layout, workspace: Workspace) -> None:
        self.layout = layout
        self.workspace = workspace
        self._lock = threading.RLock()
        self._repos: dict[int, dict[str, str]] = {}  # id -> {path, url, provider}
        self._next_id = itertools.count(2_000_000_001)

    def routes(self):
        return [
            ("GET", "/api/2.0/repos", self.list),
            ("POST", "/api/2.0/repos", self.create),
            ("GET", "/api/2.0/repos/{id}", self.get),
            ("PATCH", "/api/2.0/repos/{id}", self.update),
            ("DELETE", "/api/2.0/repos/{id}", self.delete),
        ]

    def adopt_existing(self) -> None:
        """Register the clones already under the root (an emulator restarted on old data)."""
        import git

        pending = [self.layout.workspace]
        while pending:
            folder = pending.pop()
            if (folder / ".git").is_dir():
                try:
                    repo = git.Repo(folder)
                    url = repo.remotes.origin.url if repo.remotes else ""
                    reader = repo.config_reader()
                    section, option = PROVIDER_KEY.rsplit(".", 1)
                    provider = reader.get_value(section, option, "gitHub")
                except (git.InvalidGitRepositoryError, ValueError, OSError):
                    continue
                path = "/" + folder.relative_to(self.layout.workspace).as_posix()
                self._register(path, url, str(provider))
                continue
            pending.extend(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())

    def _register(self, path: str, url: str, provider: str) -> int:
        repo_id = next(self._next_id)
        self._repos[repo_id] = {"path": path, "url": url, "provider": provider}
        self.workspace.register_repo(path, repo_id)
        return repo_id

    def _find(self, req: Request) -> tuple[int, dict[str, str]]:
        repo_id = as_int(req.params["id"], "repo_id")
        meta = self._repos.get(repo_id)
        if meta is None or self.workspace.repo_at(meta["path"]) != repo_id:
            raise not_found(f"Repo {req.params['id']} could not be found")
        return repo_id, meta

    def info(self, repo_id: int, meta: dict[str, str]) -> dict[str, Any]:
        from bricksmith.backends import git as gitops

        branch, head = gitops.clone_head(self.layout.workspace_disk(meta["path"]))
        data: dict[str, Any] = {
            "id": repo_id,
            "path": meta["path"],
            "url": meta["url"],
            "provider": meta["provider"],
        }
        if branch:
            data["branch"] = branch
        if head:
            data["head_commit_id"] = head
        return data

    # -- endpoints ---------------------------------------------------------------------------

    def create(self, req: Request) -> dict[str, Any]:
        from bricksmith.backends import git as gitops
        from bricksmith.errors import GitError

        url = str(req.required("url"))
        provider = provider_name(req.required("provider"))
        if req.arg("sparse_checkout"):
            raise unsupported("sparse checkout")
        name = PurePosixPath(url.rstrip("/")).name.removesuffix(".git") or "repo"
        path = workspace_path(str(req.arg("path") or f"/Repos/{self.workspace.user}/{name}"))
        parts = PurePosixPath(path).parts
        if parts[1:2] == ("Repos",) and len(parts) != 4:
            raise invalid(f"Repo path {path} must be of the form /Repos/{{folder}}/{{repo-name}}.")
        with self._lock:
            if self.workspace.lookup(path) is not None:
                raise already_exists(f"Path {path} already exists.")
            parent = self.layout.workspace_disk(str(PurePosixPath(path).parent))
            if parts[1:2] == ("Repos",):
                parent.mkdir(parents=True, exist_ok=True)
            elif not parent.is_dir():
                raise not_found(f"The parent folder ({PurePosixPath(path).parent}) does not exist.")
            staging = self.layout.scratch_file("clone-")
            staging.unlink()
            try:
                gitops.clone_checkout(url, staging)
                remember_provider(staging, provider)
                staging.rename(self.layout.workspace_disk(path))
            except GitError as exc:
                raise invalid(f"Failed to clone {url}: {exc.message}") from None
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            repo_id = self._register(path, url, provider)
            return self.info(repo_id, self._repos[repo_id])

    def get(self, req: Request) -> dict[str, Any]:
        return self.info(*self._find(req))

    def list(self, req: Request) -> dict[str, Any]:
        prefix = req.arg("path_prefix")
        prefix = workspace_path(prefix) if prefix else "/"
        if prefix == "/":
            prefix = "/Repos"
        repos = sorted(
            (meta["path"], repo_id)
            for repo_id, meta in self._repos.items()
            if meta["path"].startswith(prefix) and self.workspace.repo_at(meta["path"]) == repo_id
        )
        after = req.arg("next_page_token")
        if after:
            repos = [r for r in repos if r[0] > after]
        page, more = repos[:PAGE_SIZE], len(repos) > PAGE_SIZE
        answer: dict[str, Any] = {}
        if page:
            answer["repos"] = [self.info(repo_id, self._repos[repo_id]) for _, repo_id in page]
        if more:
            answer["next_page_token"] = page[-1][0]
        return answer

    def update(self, req: Request) -> dict[str, Any]:
        from bricksmith.backends import git as gitops
        from bricksmith.errors import GitError

        branch, tag = req.arg("branch"), req.arg("tag")
        if branch and tag:
            raise invalid("Only one of branch and tag can be set.")
        if req.arg("sparse_checkout"):
            raise unsupported("sparse checkout")
        with self._lock:
            repo_id, meta = self._find(req)
            try:
                gitops.clone_update(
                    self.layout.workspace_disk(meta["path"]), branch=branch, tag=tag
                )
            except GitError as exc:
                raise invalid(f"Failed to update repo {meta['path']}: {exc.message}") from None
        return {}

    def delete(self, req: Request) -> dict[str, Any]:
        with self._lock:
            repo_id, meta = self._find(req)
            shutil.rmtree(self.layout.workspace_disk(meta["path"]), ignore_errors=True)
            del self._repos[repo_id]
        return {}


def remember_provider(folder: Path, provider: str) -> None:
    """Keep the repo's provider in its clone's git config (read back by adopt_existing)."""
    import git

    with git.Repo(folder).config_writer() as writer:
        writer.set_value(*PROVIDER_KEY.rsplit(".", 1), provider)


class GitCredentials:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: dict[int, dict[str, Any]] = {}
        self._tokens: dict[int, str] = {}  # in memory only, never answered
        self._next_id = itertools.count(3_000_000_001)

    def routes(self):
        return [
            ("GET", "/api/2.0/git-credentials", self.list),
            ("POST", "/api/2.0/git-credentials", self.create),
            ("GET", "/api/2.0/git-credentials/{id}", self.get),
            ("PATCH", "/api/2.0/git-credentials/{id}", self.update),
            ("DELETE", "/api/2.0/git-credentials/{id}", self.delete),
        ]

    def has_token(self, credential_id: int) -> bool:
        return bool(self._tokens.get(credential_id))

    def _find(self, req: Request) -> int:
        if req.arg("principal_id") is not None:
            raise unsupported("git credentials of service principals")
        credential_id = as_int(req.params["id"], "credential_id")
        if credential_id not in self._credentials:
            raise not_found("Git credential with the given ID could not be found.")
        return credential_id

    def _apply(self, credential_id: int, body: dict[str, Any]) -> None:
        record = self._credentials.setdefault(credential_id, {"credential_id": credential_id})
        record["git_provider"] = provider_name(body.get("git_provider"))
        for key in ("git_username", "git_email", "name", "is_default_for_provider"):
            if body.get(key) is not None:
                record[key] = body[key]
        if body.get("personal_access_token"):
            self._tokens[credential_id] = str(body["personal_access_token"])

    def create(self, req: Request) -> dict[str, Any]:
        body = req.json()
        if body.get("principal_id") is not None:
            raise unsupported("git credentials of service principals")
        provider_name(body.get("git_provider"))
        with self._lock:
            if self._credentials:
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    "Only one Git credential is supported at this time. If you would like to "
                    "update your credential, please use the PATCH endpoint.",
                )
            credential_id = next(self._next_id)
            self._apply(credential_id, body)
            return dict(self._credentials[credential_id])

    def get(self, req: Request) -> dict[str, Any]:
        return dict(self._credentials[self._find(req)])

    def list(self, req: Request) -> dict[str, Any]:
        with self._lock:
            return {"credentials": [dict(c) for c in self._credentials.values()]}

    def update(self, req: Request) -> dict[str, Any]:
        body = req.json()
        with self._lock:
            credential_id = self._find(req)
            self._apply(credential_id, body)
        return {}

    def delete(self, req: Request) -> dict[str, Any]:
        with self._lock:
            credential_id = self._find(req)
            del self._credentials[credential_id]
            self._tokens.pop(credential_id, None)
        return {}
