"""Git operations, through GitPython. Git errors become :class:`GitError` with a hint here.

Tokens for HTTPS remotes are handed to git through an askpass helper that reads the
environment variable named in the spec, so they never land in a URL, ``.git/config``, the state
or a log. Every command that talks to a remote (push, ls-remote, clone, fetch) runs in the
environment of :func:`credentials_env`.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bricksmith.errors import GitError
from bricksmith.spec.checks import is_git_url


def is_url(remote: str) -> bool:
    """A URL (scheme:// or user@host:path) rather than a local path; the spec's own rule."""
    return is_git_url(remote)


def remote_location(remote: str, base_dir: Path) -> str:
    """The remote as git sees it: URLs unchanged, local paths made absolute."""
    if is_url(remote):
        return remote
    return str((base_dir / remote).resolve())


def local_remote_path(location: str) -> Path | None:
    """The folder of a local remote (a path or file:// URL), else None."""
    if location.startswith("file://"):
        return Path(location[len("file://") :])
    if is_url(location):
        return None
    return Path(location)


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


def _git_error(action: str, exc: Exception, hint: str, token_env: str | None = None) -> GitError:
    detail = getattr(exc, "stderr", "") or str(exc)
    detail = detail.strip().replace("stderr: ", "").strip("'\" \n")
    secret = os.environ.get(token_env) if token_env else None
    if secret:  # git does not echo credentials; this makes sure of it
        detail = detail.replace(secret, "***")
    return GitError(f"git {action} failed: {detail}", hint=hint)


# git's words for a network hiccup worth another try; anything else (authentication, a
# rejected or non-fast-forward push, a missing repository) is permanent and fails at once.
TRANSIENT_ERRORS = (
    "could not resolve host",
    "connection refused",
    "connection reset",
    "timed out",
    "the remote end hung up unexpectedly",
    "early eof",
    "rpc failed",
    "temporary failure",
    "returned error: 429",
    "returned error: 500",
    "returned error: 502",
    "returned error: 503",
    "returned error: 504",
)
NETWORK_ATTEMPTS = 4
NETWORK_TIMEOUT_S = 600  # one push or fetch; the step as a whole has the engine's timeout


def is_transient(exc: Exception) -> bool:
    text = f"{getattr(exc, 'stderr', '')} {exc}".lower()
    return any(marker in text for marker in TRANSIENT_ERRORS)


def retrying(call, *, attempts: int = NETWORK_ATTEMPTS, base_delay_s: float = 1.0,
             sleep=time.sleep, jitter=random.random, before_retry=lambda: None):
    """``call()``, tried again after a transient git error with exponential backoff and jitter
    (1 s, 2 s, 4 s, each times 0.5-1.5); a permanent error is raised at once."""
    import git

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except git.GitCommandError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            sleep(base_delay_s * 2 ** (attempt - 1) * (0.5 + jitter()))
            before_retry()
    raise AssertionError("unreachable")


def _credentials_hint(token_env: str | None) -> str:
    if token_env:
        return f"that ${token_env} (repo.token_env) holds a valid token with access to it"
    return "that your credentials are right"


def open_or_init(path: Path, branch: str):
    """The project's repository, initialised on ``branch`` when it is not one yet."""
    import git

    if (path / ".git").exists():
        return git.Repo(path)
    try:
        return git.Repo.init(path, initial_branch=branch)
    except git.GitCommandError as exc:
        raise _git_error("init", exc, f"check that {path} is writable") from exc


def head_commit(repo) -> str | None:
    try:
        return repo.head.commit.hexsha
    except ValueError:  # no commits yet
        return None


# Looking for untracked files walks every folder of the project (Kedro's .gitignore keeps the
# data sub-folders); git's untracked cache remembers folder mtimes in the index and skips the
# unchanged ones (130 ms -> 29 ms with 10,000 data folders). A standard index extension.
UNTRACKED_CACHE = ["-c", "core.untrackedCache=true"]


def worktree_probes(path: Path, *, untracked: bool) -> list | None:
    """Probes of the repository at ``path`` as it is now — its changes (with untracked files
    or not) and HEAD, in one ``git status`` — for a check that reads the same; None when git
    cannot tell."""
    from bricksmith.plan.probes import git_probe, kind_probe

    args = [*UNTRACKED_CACHE, "status", "--porcelain=v2", "--branch"] if untracked else [
        "status", "--porcelain=v2", "--branch", "-uno"]
    try:
        seen = _read_git(args, cwd=path, action="status")
    except GitError:
        return None
    return [kind_probe(path / ".git"), git_probe(path, args, seen)]


def remote_branch_probes(
    location: str, branch: str, commit: str, token_env: str | None
) -> list | None:
    """Probes that hold while ``branch`` on the remote is at ``commit``, as
    ``remote_branch_commit`` reads it: a local remote's ref directly (one process, not the
    transport's two), another host's by ``ls-remote``; None when that needs a credential."""
    from bricksmith.plan.probes import git_probe

    folder = local_remote_path(location)
    if folder is not None:
        args = ["--git-dir", str(folder), "rev-parse", "--verify", "--quiet",
                f"refs/heads/{branch}"]
        return [git_probe(None, args, f"{commit}\n")]
    if token_env:
        return None
    ref = f"refs/heads/{branch}"
    return [git_probe(None, ["ls-remote", location, ref], f"{commit}\t{ref}\n")]


def uncommitted_changes(path: Path) -> list[str]:
    """Paths git would commit (modified, deleted, untracked and not ignored)."""
    if not (path / ".git").exists():
        return ["(not a git repository yet)"]
    status = _read_git([*UNTRACKED_CACHE, "status", "--porcelain"], cwd=path, action="status")
    return [line[3:] for line in status.splitlines() if line]


def project_head(path: Path) -> str | None:
    """The commit HEAD of the repository at ``path`` points at; None before the first."""
    try:
        return _read_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd=path,
                         action="rev-parse").strip() or None
    except GitError:
        return None


def _read_git(
    args: list[str], *, cwd: Path | None = None, action: str, env: dict[str, str] | None = None
) -> str:
    """stdout of a read-only git command. The checks a plan makes use the git CLI directly:
    importing GitPython costs more than the command."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
            timeout=NETWORK_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {action} failed: {exc}", hint="check that git is installed") from exc
    if done.returncode != 0:
        raise GitError(f"git {action} failed: {done.stderr.strip()}",
                       hint=f"run `git {' '.join(args)}` in {cwd or '.'} to see why")
    return done.stdout


def commit_all(
    path: Path, *, branch: str, message: str, identity: Identity, first_message: str | None = None
) -> tuple[str, bool]:
    """Commit the whole tree when it changed. Returns (HEAD commit, whether a commit was made).

    ``first_message`` (when given) is used for the repository's first commit."""
    import git

    repo = open_or_init(path, branch)
    try:
        if repo.head.is_detached or repo.active_branch.name != branch:
            repo.git.checkout("-B", branch)
        repo.git.add("--all")
        head = head_commit(repo)
        if head is not None and not repo.index.diff("HEAD"):
            return head, False
        if head is None and first_message:
            message = first_message
        with repo.git.custom_environment(**identity.env()):
            repo.git.commit("--quiet", "--no-verify", "-m", message)
    except git.GitCommandError as exc:
        raise _git_error("commit", exc, f"inspect the repository at {path}") from exc
    return repo.head.commit.hexsha, True


def ensure_bare_remote(location: str, branch: str) -> bool:
    """Create a local bare repository at ``location`` when missing. Returns whether it did."""
    import git

    folder = local_remote_path(location)
    if folder is None or folder.exists():
        return False
    try:
        git.Repo.init(folder, bare=True, mkdir=True, initial_branch=branch)
    except (git.GitCommandError, OSError) as exc:
        raise _git_error("init --bare", exc, f"check that {folder.parent} is writable") from exc
    return True


USERNAME_ENV = "BRICKSMITH_GIT_USERNAME"
DEFAULT_USERNAME = "x-access-token"


@contextmanager
def credentials_env(token_env: str | None) -> Iterator[dict[str, str]]:
    """Environment for git: never prompts; with a token env var, an askpass helper reads it.

    The helper answers git's "Username for ..." prompt with $BRICKSMITH_GIT_USERNAME, else
    ``x-access-token`` (GitHub, GitLab and Azure DevOps accept any non-empty user name with a
    token; a user name in the remote URL is used as is and not asked for), and the "Password
    for ..." prompt with the variable named ``token_env``. Credential helpers configured for
    git are switched off for these commands, so none of them answers with another credential or
    stores the token (``credential.helper=store`` would write it to ~/.git-credentials).
    """
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if not token_env:
        yield env
        return
    if not os.environ.get(token_env):
        raise GitError(
            f"environment variable {token_env} (repo.token_env) is not set",
            hint=f"export {token_env}=<token> before running bricksmith",
        )
    with tempfile.TemporaryDirectory(prefix="bricksmith-askpass-") as folder:
        helper = Path(folder) / "askpass.sh"
        # The helper holds no secret: it prints the variable whose *name* it is given.
        helper.write_text(
            "#!/bin/sh\n"
            'case "$1" in\n'
            '  Username*) printf "%s\\n" "${' + USERNAME_ENV + ":-" + DEFAULT_USERNAME + '}" ;;\n'
            '  *) printenv "$BRICKSMITH_TOKEN_ENV" ;;\n'
            "esac\n"
        )
        helper.chmod(stat.S_IRWXU)
        # An empty credential.helper (as command-line config: GIT_CONFIG_COUNT, git >= 2.31)
        # empties the list of helpers from every config file.
        index = int(os.environ.get("GIT_CONFIG_COUNT") or 0)
        env.update(
            {
                "GIT_ASKPASS": str(helper),
                "BRICKSMITH_TOKEN_ENV": token_env,
                "GIT_CONFIG_COUNT": str(index + 1),
                f"GIT_CONFIG_KEY_{index}": "credential.helper",
                f"GIT_CONFIG_VALUE_{index}": "",
            }
        )
        yield env


def push(path: Path, *, location: str, branch: str, token_env: str | None) -> str:
    """Push HEAD to ``branch`` of ``location`` (set as ``origin``). Returns the pushed commit."""
    import git

    repo = git.Repo(path)
    commit = head_commit(repo)
    if commit is None:
        raise GitError(f"nothing to push: {path} has no commits")
    try:
        if "origin" in [r.name for r in repo.remotes]:
            if repo.remotes.origin.url != location:
                repo.remotes.origin.set_url(location)
        else:
            repo.create_remote("origin", location)
        with credentials_env(token_env) as env, repo.git.custom_environment(**env):
            # a push repeated after a lost answer finds the branch already there: harmless
            retrying(lambda: repo.git.push(
                "--porcelain", "origin", f"HEAD:refs/heads/{branch}",
                kill_after_timeout=NETWORK_TIMEOUT_S,
            ))
    except git.GitCommandError as exc:
        raise _git_error(
            "push",
            exc,
            f"check that {location} accepts pushes to {branch} (permissions, hooks, "
            f"non-fast-forward history) and {_credentials_hint(token_env)}",
            token_env,
        ) from exc
    return commit


def remote_branch_commit(location: str, branch: str, token_env: str | None = None) -> str | None:
    """The commit ``branch`` points at on the remote, or None (missing branch or remote)."""
    try:
        with credentials_env(token_env) as env:
            out = _read_git(["ls-remote", location, f"refs/heads/{branch}"], env=env,
                            action="ls-remote")
    except GitError:
        return None
    return out.split()[0] if out.strip() else None


def sync_clone(
    location: str, dest: Path, *, branch: str, commit: str, token_env: str | None = None
) -> str:
    """A working clone of ``location`` at ``dest`` with ``branch`` checked out at ``commit``.

    ``token_env``: as for :func:`push`; the clone's ``.git/config`` keeps the bare URL."""
    import git

    try:
        with credentials_env(token_env) as env:
            if (dest / ".git").exists():
                repo = git.Repo(dest)
                if repo.remotes.origin.url != location:
                    repo.remotes.origin.set_url(location)
                with repo.git.custom_environment(**env):
                    retrying(lambda: repo.git.fetch(
                        "--quiet", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
                        kill_after_timeout=NETWORK_TIMEOUT_S,
                    ))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                repo = retrying(
                    lambda: git.Repo.clone_from(location, dest, branch=branch, env=env),
                    before_retry=lambda: shutil.rmtree(dest, ignore_errors=True),
                )
        repo.git.checkout("-B", branch, commit)
        repo.git.reset("--hard", commit)
    except git.GitCommandError as exc:
        raise _git_error(
            "clone/fetch",
            exc,
            f"check that {location} is reachable and has branch {branch}, "
            f"and {_credentials_hint(token_env)}",
            token_env,
        ) from exc
    return repo.head.commit.hexsha


def clone_state(dest: Path) -> tuple[str | None, list[str]]:
    """(HEAD commit, changed tracked files) of a working clone; (None, []) when it is not there."""
    if not (dest / ".git").exists():
        return None, []
    try:
        status = _read_git(["status", "--porcelain", "--untracked-files=no"], cwd=dest,
                           action="status")
    except GitError:
        return None, []
    return project_head(dest), [line[3:] for line in status.splitlines() if line]


# -- working clones driven by a remote (the Databricks API emulator's Repos) ----------------


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
        raise _git_error(
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
        raise _git_error(
            "fetch/checkout", exc, f"check that the remote has {target}", token_env
        ) from exc
    current, commit = clone_head(dest)
    return current, commit or ""
