"""Repos (Git folders) and Git credentials.

Creating a repo really clones its ``url`` (in tests, a local path or ``file://`` URL) into the
workspace. Its parent folder must exist, as on a real workspace: ``/Repos/<user>`` exists only
once that user opened the workspace UI (or someone ran ``workspace/mkdirs``), else 404
``RESOURCE_DOES_NOT_EXIST`` "Parent directory ... does not exist." (Terraform's
``resource_repo.go`` runs mkdirs first for this reason). Outside ``/Repos`` a Git folder may be
created anywhere (``service/workspace.py``, ``ReposAPI.create``: "Almost any path").

Updating with ``branch`` fetches and checks out that branch's latest commit (the UI's "pull"),
with ``tag`` checks out the tag. Uncommitted changes in the folder are KEPT, and a pull they
conflict with fails (400, nothing changes), unless ``dangerously_force_discard_all`` is true,
which discards every uncommitted change first (``ReposAPI.update``'s docstring, databricks-sdk
0.162). *Unverified*: the exact error code and message of a real conflicting pull.

Git credentials: several per user (fields ``name`` and ``is_default_for_provider``), as
workspaces allow since 2025 (Terraform provider PR 4837); the first one of a provider is its
default. The personal access token is kept in memory only and never answered, logged or
written; it is not used for cloning (remotes here are local).
"""

from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.emulator.paths import Layout, workspace_path
from bricksmith.emulator.wire import (
    Request,
    already_exists,
    as_bool,
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
    def __init__(self, layout: Layout, workspace: Workspace, credentials: GitCredentials) -> None:
        self.layout = layout
        self.workspace = workspace
        self.credentials = credentials
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
            parent = self.workspace.lookup(str(PurePosixPath(path).parent))
            if parent is None or parent.kind != "DIRECTORY":
                raise not_found(
                    f"Parent directory {PurePosixPath(path).parent} does not exist."
                )
            credential = req.arg("git_credential_id")
            if credential is not None and not self.credentials.exists(as_int(credential, "id")):
                raise not_found("Git credential with the given ID could not be found.")
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
        branch, tag = req.arg("branch"), req.arg("tag")
        if branch and tag:
            raise invalid("Only one of branch and tag can be set.")
        if req.arg("sparse_checkout"):
            raise unsupported("sparse checkout")
        discard = as_bool(req.arg("dangerously_force_discard_all"))
        with self._lock:
            repo_id, meta = self._find(req)
            pull(self.layout.workspace_disk(meta["path"]), meta["path"], branch=branch, tag=tag,
                 discard=discard)
        return {}

    def delete(self, req: Request) -> dict[str, Any]:
        with self._lock:
            repo_id, meta = self._find(req)
            shutil.rmtree(self.layout.workspace_disk(meta["path"]), ignore_errors=True)
            del self._repos[repo_id]
        return {}


def pull(folder: Path, path: str, *, branch: str | None, tag: str | None, discard: bool) -> None:
    """Fetch and check out ``branch``'s latest commit (default: the current branch) or ``tag``,
    keeping uncommitted changes; a change the checkout would overwrite fails the pull (400)
    and leaves the folder as it was. ``discard``: drop every uncommitted change first."""
    import git

    repo = git.Repo(folder)
    try:
        repo.git.fetch("--prune", "--tags", "--force", "origin")
        if tag:
            target, options = f"refs/tags/{tag}", ["--detach"]
        else:
            name = branch or (None if repo.head.is_detached else repo.head.ref.name)
            if name is None:
                raise invalid(f"Repo {path} is on a tag: name the branch to update to.")
            if f"origin/{name}" not in [ref.name for ref in repo.remotes.origin.refs]:
                raise invalid(f"Failed to update repo {path}: branch {name} does not exist.")
            target, options = f"refs/remotes/origin/{name}", ["-B", name]
    except git.GitCommandError as exc:
        raise invalid(f"Failed to update repo {path}: {exc.stderr.strip()}") from None
    if discard:
        repo.git.reset("--hard")
        repo.git.clean("-fdq")
    try:
        repo.git.checkout(*options, target)
    except git.GitCommandError as exc:
        raise invalid(
            f"Failed to update repo {path}: there are uncommitted changes that conflict with "
            f"the update. Commit or discard them and try again. ({exc.stderr.strip()})",
            "INVALID_STATE",
        ) from None
    from bricksmith.backends.git_folder import drop_bytecode

    drop_bytecode(folder)  # a run must never import the previous commit's bytecode
    if not tag:
        repo.git.branch("--set-upstream-to", f"origin/{name}", name)


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

    def exists(self, credential_id: int) -> bool:
        return credential_id in self._credentials

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
        provider = provider_name(body.get("git_provider"))
        with self._lock:
            same = [c for c in self._credentials.values() if c["git_provider"] == provider]
            name = body.get("name")
            if name is not None and any(c.get("name") == name for c in self._credentials.values()):
                raise already_exists(f"A Git credential named {name!r} already exists.")
            credential_id = next(self._next_id)
            self._apply(credential_id, body)
            if not same:  # the first credential of a provider is its default
                self._credentials[credential_id]["is_default_for_provider"] = True
            self._default_only(credential_id)
            return dict(self._credentials[credential_id])

    def _default_only(self, credential_id: int) -> None:
        """One default per provider: ``credential_id``'s, when it is one."""
        record = self._credentials[credential_id]
        if not record.get("is_default_for_provider"):
            return
        for other_id, other in self._credentials.items():
            if other_id != credential_id and other["git_provider"] == record["git_provider"]:
                other["is_default_for_provider"] = False

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
            self._default_only(credential_id)
        return {}

    def delete(self, req: Request) -> dict[str, Any]:
        with self._lock:
            credential_id = self._find(req)
            del self._credentials[credential_id]
            self._tokens.pop(credential_id, None)
        return {}
