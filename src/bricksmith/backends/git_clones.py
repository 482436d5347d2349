"""Working clones driven by a remote, as the Databricks API emulator's Repos keep them: a
clone's checked-out branch and HEAD commit, cloning a remote with a branch checked out, and
updating a clone to the latest commit of a branch or to a tag (local changes discarded).
Git errors become :class:`GitError` with a hint."""

from __future__ import annotations

from pathlib import Path

from bricksmith.backends.git_transport import credentials_env, git_error
from bricksmith.errors import GitError


def head_commit(repo) -> str | None:
    try:
        return repo.head.commit.hexsha
    except ValueError:  # no commits yet
        return None


def clone_head(dest: Path) -> tuple[str | None, str | None]:
    """(checked-out branch or None when detached, HEAD commit or None) of a working clone."""
    import git

    try:
        repo = git.Repo(dest)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None, None
    branch = None if repo.head.is_detached else repo.head.ref.name
    return branch, head_commit(repo)


def clone_checkout(
    location: str, dest: Path, *, branch: str | None = None, token_env: str | None = None
) -> tuple[str | None, str]:
    """Clone ``location`` into the new folder ``dest`` with ``branch`` (default: the remote's
    default branch) checked out. Returns (branch, HEAD commit or "" for an empty remote)."""
    import git

    options = {"branch": branch} if branch else {}
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with credentials_env(token_env) as env:
            git.Repo.clone_from(location, dest, env=env, **options)
    except git.GitCommandError as exc:
        wanted = f" and has branch {branch}" if branch else ""
        raise git_error(
            "clone", exc, f"check that {location} is reachable{wanted}", token_env
        ) from exc
    current, commit = clone_head(dest)
    return current, commit or ""


def clone_update(
    dest: Path, *, branch: str | None = None, tag: str | None = None, token_env: str | None = None
) -> tuple[str | None, str]:
    """Fetch ``origin`` and check out the latest commit of ``branch`` (default: the current
    branch), or ``tag`` (a detached HEAD). Local changes are discarded. Returns (branch, HEAD)."""
    import git

    repo = git.Repo(dest)
    try:
        with credentials_env(token_env) as env, repo.git.custom_environment(**env):
            repo.git.fetch("--prune", "--tags", "--force", "origin")
            if tag:
                repo.git.checkout("--force", "--detach", f"refs/tags/{tag}")
            else:
                name = branch or (None if repo.head.is_detached else repo.head.ref.name)
                if name is None:
                    raise GitError("the clone is on a detached HEAD: name the branch to update to")
                repo.git.checkout("--force", "-B", name, f"refs/remotes/origin/{name}")
                repo.git.branch("--set-upstream-to", f"origin/{name}", name)
            repo.git.reset("--hard")
            repo.git.clean("-fdq")
    except git.GitCommandError as exc:
        target = f"tag {tag}" if tag else f"branch {branch or 'of the clone'}"
        raise git_error(
            "fetch/checkout", exc, f"check that the remote has {target}", token_env
        ) from exc
    current, commit = clone_head(dest)
    return current, commit or ""
