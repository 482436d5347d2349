"""Git operations on the user's project, through GitPython (the git CLI for the quick reads a
plan makes). Git errors become :class:`GitError` with a hint.

bricksmith commits only on top of the branch the spec names, checked out (it never moves,
resets or force-pushes a branch: commits it did not make are never lost), keeps its own files
out of the project's commits (``.git/info/exclude``), and pushes fast-forwards only. How git
reaches a remote (the token's askpass helper, retries) is in :mod:`.git_transport`; the
workspace Git folder of the local backend in :mod:`.git_folder`; working clones driven by a
remote (the emulator's Repos) in :mod:`.git_clones`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bricksmith.backends.git_clones import (  # noqa: F401  (re-exported)
    clone_checkout,
    clone_head,
    clone_update,
    head_commit,
)
from bricksmith.backends.git_transport import (
    DEFAULT_USERNAME,
    NETWORK_TIMEOUT_S,
    USERNAME_ENV,
    credentials_env,
    credentials_hint,
    git_error,
    is_transient,
    retrying,
)
from bricksmith.errors import GitError
from bricksmith.gitremote import Identity, local_remote_path

__all__ = [  # used here, and named here for callers of git operations
    "DEFAULT_USERNAME", "NETWORK_TIMEOUT_S", "USERNAME_ENV", "credentials_env",
    "credentials_hint", "git_error", "is_transient", "retrying",
]


def open_or_init(path: Path, branch: str):
    """The project's repository, initialised on ``branch`` when it is not one yet."""
    import git

    if (path / ".git").exists():
        return git.Repo(path)
    try:
        return git.Repo.init(path, initial_branch=branch)
    except git.GitCommandError as exc:
        raise git_error("init", exc, f"check that {path} is writable") from exc


# Looking for untracked files walks every folder of the project (Kedro's .gitignore keeps the
# data sub-folders); git's untracked cache remembers folder mtimes in the index and skips the
# unchanged ones (130 ms -> 29 ms with 10,000 data folders). A standard index extension.
UNTRACKED_CACHE = ["-c", "core.untrackedCache=true"]


def own_pathspecs(path: Path, own: Iterable[Path]) -> list[str]:
    """Pathspecs of the whole project at ``path`` but bricksmith's own folders and files in it
    (``own``: target roots, caches, saved plans; those outside the project are left out)."""
    return [".", *(f":(exclude,literal){rel}" for rel in own_paths_inside(path, own))]


def own_paths_inside(path: Path, own: Iterable[Path]) -> list[str]:
    """The POSIX paths, relative to ``path``, of those of ``own`` strictly inside it."""
    base = path.resolve()
    inside = []
    for item in own:
        resolved = Path(os.path.abspath(item))
        with contextlib.suppress(OSError):
            resolved = resolved.resolve()
        if resolved != base and resolved.is_relative_to(base):
            inside.append(resolved.relative_to(base).as_posix())
    return sorted(set(inside))


def status_args(path: Path, own: Iterable[Path] = ()) -> list[str]:
    """The ``git status`` that the commit step's check and its memo probe both read."""
    return [*UNTRACKED_CACHE, "status", "--porcelain=v2", "--branch", "--",
            *own_pathspecs(path, own)]


@dataclass(frozen=True)
class ProjectStatus:
    """What ``git status`` says of the project: ``branch`` (None when HEAD is detached),
    ``head`` (None before the first commit), ``changed``: paths git would commit."""

    branch: str | None
    head: str | None
    changed: list[str]

    @classmethod
    def parse(cls, text: str) -> ProjectStatus:
        branch, head, changed = None, None, []
        for line in text.splitlines():
            if line.startswith("# branch.head "):
                name = line[len("# branch.head "):]
                branch = None if name == "(detached)" else name
            elif line.startswith("# branch.oid "):
                oid = line[len("# branch.oid "):]
                head = None if oid == "(initial)" else oid
            elif line[:2] in ("1 ", "2 ", "u "):
                fields = line.split(" ", {"1": 8, "2": 9, "u": 10}[line[0]])
                changed.append(fields[-1].split("\t")[0])
            elif line[:2] == "? ":
                changed.append(line[2:])
        return cls(branch, head, changed)


def project_status(path: Path, own: Iterable[Path] = ()) -> tuple[ProjectStatus, list]:
    """(the status of the project at ``path``, leaving out bricksmith's ``own`` paths; the
    memo probes that hold while it stays so). Raises :class:`GitError`."""
    from bricksmith.observations import git_probe, kind_probe

    args = status_args(path, own)
    seen = read_git(args, cwd=path, action="status")
    return ProjectStatus.parse(seen), [kind_probe(path / ".git"), git_probe(path, args, seen)]


def branch_refusal(path: Path, status: ProjectStatus, branch: str) -> GitError | None:
    """Why bricksmith must not commit to ``branch`` in the project at ``path`` as it is (None:
    it may). bricksmith commits only on top of ``branch`` checked out: it never moves,
    resets or re-points a branch, so commits it did not make are never lost or pushed
    elsewhere."""
    if status.branch == branch:
        return None
    where = f"the project {path}"
    if status.branch is None:
        return GitError(
            f"{where} has a detached HEAD ({str(status.head)[:10]}), not branch {branch} "
            "(repo.branch): bricksmith commits only on the branch checked out",
            hint=f"run `git -C {path} checkout {branch}` (or `git switch -c {branch}` to keep "
            "the detached commits), then apply again",
        )
    return GitError(
        f"{where} is on branch {status.branch}, but the spec's repo.branch is {branch}: "
        f"bricksmith commits and pushes only the branch checked out, and will not move "
        f"{branch} to {status.branch}'s commits",
        hint=f"run `git -C {path} checkout {branch}` (commit or stash your changes first), or "
        f"set repo.branch: {status.branch} in the spec to work on that branch",
    )


def remote_branch_probes(
    location: str, branch: str, commit: str, token_env: str | None
) -> list | None:
    """Probes that hold while ``branch`` on the remote is at ``commit``, as
    ``remote_branch_commit`` reads it: a local remote's ref directly (one process, not the
    transport's two), another host's by ``ls-remote``; None when that needs a credential."""
    from bricksmith.observations import git_probe

    folder = local_remote_path(location)
    if folder is not None:
        args = ["--git-dir", str(folder), "rev-parse", "--verify", "--quiet",
                f"refs/heads/{branch}"]
        return [git_probe(None, args, f"{commit}\n")]
    if token_env:
        return None
    ref = f"refs/heads/{branch}"
    return [git_probe(None, ["ls-remote", location, ref], f"{commit}\t{ref}\n")]


def project_head(path: Path) -> str | None:
    """The commit HEAD of the repository at ``path`` points at; None before the first."""
    try:
        return read_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd=path,
                         action="rev-parse").strip() or None
    except GitError:
        return None


def commit_subject(path: Path, commit: str) -> str:
    """The first line of ``commit``'s message in the repository at ``path``."""
    try:
        return read_git(["log", "-1", "--format=%s", commit], cwd=path, action="log").strip()
    except GitError:
        return ""


def read_git(
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


def exclude_own_paths(path: Path, own: Iterable[Path]) -> list[str]:
    """Add bricksmith's ``own`` paths inside the project at ``path`` to its
    ``.git/info/exclude`` (the repository's own ignore list, never the user's ``.gitignore``),
    so that no ``git add`` stages them. Returns the lines added."""
    from bricksmith.atomic import write_text_atomically

    rels = own_paths_inside(path, own)
    info = path / ".git" / "info"
    if not rels or not (path / ".git").is_dir():
        return []
    exclude = info / "exclude"
    text = exclude.read_text() if exclude.is_file() else ""
    present = set(text.splitlines())
    added = [line for line in ("/" + _glob_escape(rel) for rel in rels) if line not in present]
    if not added:
        return []
    header = "# bricksmith's own files (target roots, caches, saved plans)"
    block = ([header] if header not in present else []) + added
    info.mkdir(parents=True, exist_ok=True)
    write_text_atomically(exclude, text + ("" if not text or text.endswith("\n") else "\n")
                          + "\n".join(block) + "\n")
    return added


def _glob_escape(rel: str) -> str:
    """``rel`` as a literal gitignore pattern."""
    escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in rel)
    return "\\" + escaped if escaped[:1] in ("#", "!") else escaped


def commit_all(
    path: Path,
    *,
    branch: str,
    identity: Identity,
    message: str | None = None,
    first_message: str | None = None,
    own: Iterable[Path] = (),
) -> tuple[str, bool]:
    """Commit every change of the project at ``path`` on ``branch``, when there is one.
    Returns (HEAD commit, whether a commit was made).

    A new repository is created on ``branch``; an existing one must have ``branch`` checked
    out (else :class:`GitError` naming both: see :func:`branch_refusal`) and gets a commit on
    top of it, whatever else it holds. bricksmith's ``own`` paths inside the project are
    written to ``.git/info/exclude`` and never staged. The message's subject is ``message``
    (else a summary of the change, or ``first_message`` for the first commit) and its body
    lists the files and, for parameters files, every key changed (old → new)."""
    import git

    from bricksmith.backends.commit_message import compose

    repo = open_or_init(path, branch)
    try:
        status = ProjectStatus.parse(read_git(status_args(path, own), cwd=path, action="status"))
        if status.head is None and status.branch != branch and not _has_branches(repo):
            repo.git.symbolic_ref("HEAD", f"refs/heads/{branch}")  # unborn: nothing to lose
        else:
            refusal = branch_refusal(path, status, branch)
            if refusal is not None:
                raise refusal
        exclude_own_paths(path, own)
        repo.git.add("--all", "--", ".")
        mine = own_paths_inside(path, own)
        if mine:  # their tracked files, from an older commit, stay as they were committed
            repo.git.reset("-q", "--", *(f":(literal){rel}" for rel in mine))
        head = head_commit(repo)
        if head is not None and not repo.index.diff("HEAD"):
            return head, False
        first = (first_message or message or "Create the project (bricksmith)") if head is None \
            else None
        text = compose(path, subject=message, first=first)
        with repo.git.custom_environment(**identity.env()):
            repo.git.commit("--quiet", "--no-verify", "-m", text)
    except git.GitCommandError as exc:
        raise git_error("commit", exc, f"inspect the repository at {path}") from exc
    return repo.head.commit.hexsha, True


def _has_branches(repo) -> bool:
    return bool(repo.git.for_each_ref("--count=1", "refs/heads/").strip())


def ensure_bare_remote(location: str, branch: str) -> bool:
    """Create a local bare repository at ``location`` when missing. Returns whether it did."""
    import git

    folder = local_remote_path(location)
    if folder is None or folder.exists():
        return False
    try:
        git.Repo.init(folder, bare=True, mkdir=True, initial_branch=branch)
    except (git.GitCommandError, OSError) as exc:
        raise git_error("init --bare", exc, f"check that {folder.parent} is writable") from exc
    return True


def push(path: Path, *, location: str, branch: str, token_env: str | None) -> str:
    """Push the project's ``branch`` to ``branch`` of ``location``, as a fast-forward only: a
    remote branch holding commits the project does not have is never overwritten (git's own
    refusal, no ``--force``), and the error says how to bring them in. ``origin`` is set to
    ``location`` when the project has no ``origin``; an ``origin`` the user set elsewhere is
    left alone. Returns the pushed commit. Raises :class:`GitError`."""
    import git

    repo = git.Repo(path)
    try:
        commit = repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    except git.GitCommandError:
        commit = ""
    if not commit:
        raise GitError(f"nothing to push: {path} has no branch {branch} with commits",
                       hint=f"commit on {branch} (repo.branch) first: apply does it")
    ref = f"refs/heads/{branch}"
    try:
        remotes = {r.name: r for r in repo.remotes}
        if "origin" not in remotes:
            repo.create_remote("origin", location)
            remotes = {r.name: r for r in repo.remotes}
        target = "origin" if remotes["origin"].url == location else location
        with credentials_env(token_env) as env, repo.git.custom_environment(**env):
            # a push repeated after a lost answer finds the branch already there: harmless
            retrying(lambda: repo.git.push(
                "--porcelain", target, f"{ref}:{ref}", kill_after_timeout=NETWORK_TIMEOUT_S,
            ))
    except git.GitCommandError as exc:
        text = f"{getattr(exc, 'stdout', '')} {getattr(exc, 'stderr', '')}"
        if "[rejected]" in text or "non-fast-forward" in text or "fetch first" in text:
            raise GitError(
                f"git push refused: branch {branch} of {location} has commits that the "
                f"project's {branch} does not have; bricksmith never overwrites them",
                hint=f"bring them in first: `git -C {path} pull --ff-only {location} {branch}` "
                "(or --rebase), then apply again",
            ) from exc
        raise git_error(
            "push",
            exc,
            f"check that {location} accepts pushes to {branch} (permissions, hooks) and "
            f"{credentials_hint(token_env)}",
            token_env,
        ) from exc
    return commit


def remote_branch_commit(location: str, branch: str, token_env: str | None = None) -> str | None:
    """The commit ``branch`` points at on the remote, or None (missing branch or remote).
    A local remote is read without the token (none is needed, as the preflight assumes)."""
    if local_remote_path(location) is not None:
        token_env = None
    try:
        with credentials_env(token_env) as env:
            out = read_git(["ls-remote", location, f"refs/heads/{branch}"], env=env,
                            action="ls-remote")
    except GitError:
        return None
    return out.split()[0] if out.strip() else None
