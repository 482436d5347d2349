"""The workspace Git folder of the local backend: bricksmith's own clone, exactly at the pushed
commit.

A run reads the Git folder, so anything in it that git does not hold at that commit is drift:
tracked files edited in place, and untracked *or ignored* files (a ``conf/local/parameters.yml``
dropped there overrides the committed ``conf/base`` one; Kedro's ``.gitignore`` hides it from
``git status``). :func:`folder_drift` lists them; :func:`sync_clone` puts the folder back at the
commit (``git reset --hard`` and ``git clean -ffdx``, as Databricks' "reset" of a Git folder
would), after keeping a copy of every file it is about to remove or overwrite under
``keep_dir`` so nothing is lost.

What runs themselves write into the folder is not drift and is kept (:data:`RUN_OUTPUTS`):
Python's bytecode caches, and Kedro's data, logs and MLflow folders at the project's top.
Python uses a ``__pycache__`` file only for a source file that exists and matches it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from bricksmith.backends.git import project_head, read_git
from bricksmith.backends.git_transport import (
    NETWORK_TIMEOUT_S,
    credentials_env,
    credentials_hint,
    git_error,
    retrying,
)
from bricksmith.errors import GitError

# gitignore patterns (git ls-files -x / git clean -e) of what runs write into the Git folder.
RUN_OUTPUTS = (
    "__pycache__/",
    "*.pyc",
    "/data/",
    "/logs/",
    "/mlruns/",
    "/spark-warehouse/",
    "/metastore_db/",
    "/derby.log",
    ".ipynb_checkpoints/",
    "/.telemetry",
)


def _excludes(flag: str) -> list[str]:
    return [arg for pattern in RUN_OUTPUTS for arg in (flag, pattern)]


FOREIGN_ARGS = ["ls-files", "--others", "-z", *_excludes("-x")]
TRACKED_ARGS = ["status", "--porcelain=v2", "--branch", "--untracked-files=no"]


def foreign_files(dest: Path) -> list[str]:
    """Untracked and ignored files of the clone at ``dest`` that runs did not write (sorted
    POSIX paths relative to it); [] when it is not a clone."""
    if not (dest / ".git").exists():
        return []
    try:
        out = read_git(FOREIGN_ARGS, cwd=dest, action="ls-files")
    except GitError:
        return []
    return sorted(p for p in out.split("\0") if p)


def clone_state(dest: Path) -> tuple[str | None, list[str]]:
    """(HEAD commit, changed tracked files) of a working clone; (None, []) when it is not there."""
    if not (dest / ".git").exists():
        return None, []
    try:
        status = read_git(["status", "--porcelain", "--untracked-files=no"], cwd=dest,
                           action="status")
    except GitError:
        return None, []
    return project_head(dest), [line[3:] for line in status.splitlines() if line]


def folder_drift(dest: Path, commit: str) -> list[str]:
    """Why the clone at ``dest`` is not exactly ``commit`` (one reason per kind, files named)."""
    head, changed = clone_state(dest)
    if head is None:
        return [f"workspace repo {dest} is missing"]
    reasons = []
    if head != commit:
        reasons.append(f"workspace repo is at {head[:10]}, not {commit[:10]}")
    if changed:
        reasons.append(f"workspace repo has local changes: {_shown(changed)}")
    foreign = foreign_files(dest)
    if foreign:
        reasons.append(f"workspace repo has files that are not in the commit: {_shown(foreign)}")
    return reasons


def folder_probes(dest: Path) -> list | None:
    """What :func:`folder_drift` reads: HEAD and tracked changes (one ``git status``) and the
    foreign files (one ``git ls-files``); None when git cannot tell."""
    from bricksmith.observations import git_probe, kind_probe

    try:
        tracked = read_git(TRACKED_ARGS, cwd=dest, action="status")
        foreign = read_git(FOREIGN_ARGS, cwd=dest, action="ls-files")
    except GitError:
        return None
    return [kind_probe(dest / ".git"), git_probe(dest, TRACKED_ARGS, tracked),
            git_probe(dest, FOREIGN_ARGS, foreign)]


def _shown(paths: list[str], limit: int = 5) -> str:
    return ", ".join(paths[:limit]) + (f" ... ({len(paths)} in all)" if len(paths) > limit else "")


def keep_copies(dest: Path, keep_dir: Path, commit: str | None = None
                ) -> tuple[Path | None, list[str]]:
    """Copy every file of the clone that a reset to ``commit`` (HEAD when None) and a clean
    would remove or overwrite (edited tracked files, foreign files; a file whose bytes are
    already those of ``commit`` loses nothing and is not copied) to
    ``keep_dir/<UTC time>/<path>``. Returns (that folder or None when there was nothing to
    keep, the paths kept). Raises :class:`GitError` when a copy cannot be written."""
    if not (dest / ".git").exists():
        return None, []
    _head, changed = clone_state(dest)
    paths = sorted(set(changed) | set(foreign_files(dest)))
    paths = [p for p in paths if (dest / p).is_file() or (dest / p).is_symlink()]
    if commit is not None:
        paths = [p for p in paths if _blob(dest, commit, p) != _read(dest / p)]
    if not paths:
        return None, []
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = keep_dir / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = keep_dir / f"{stamp}-{suffix}"
    try:
        for rel in paths:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dest / rel, target, follow_symlinks=False)
    except OSError as exc:
        raise GitError(
            f"could not keep a copy of the workspace repo's edited files in {folder}: {exc}",
            hint=f"check free space and permissions under {keep_dir}; nothing was removed",
        ) from exc
    return folder, paths


def sync_clone(
    location: str,
    dest: Path,
    *,
    branch: str,
    commit: str,
    token_env: str | None = None,
    keep_dir: Path | None = None,
) -> tuple[str, Path | None, list[str]]:
    """A working clone of ``location`` at ``dest``, exactly at ``commit`` on ``branch``:
    fetched, reset, and cleaned of every file git does not hold (run outputs excepted).

    The clone is bricksmith's own; files it removes or overwrites are first copied under
    ``keep_dir`` (when given). ``token_env``: as for :func:`bricksmith.backends.git.push`;
    the clone's ``.git/config`` keeps the bare URL. Returns (HEAD commit, the folder with the
    copies or None, the paths copied). Raises :class:`GitError`."""
    import git

    kept: tuple[Path | None, list[str]] = (None, [])
    _remove_stale_locks(dest / ".git")
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
                if keep_dir is not None:  # what the commit already holds is not lost
                    kept = keep_copies(dest, keep_dir, commit)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                repo = retrying(
                    lambda: git.Repo.clone_from(location, dest, branch=branch, env=env),
                    before_retry=lambda: shutil.rmtree(dest, ignore_errors=True),
                )
        # the clone and its branch are bricksmith's own: moving them loses nothing (kept above)
        repo.git.checkout("--force", "-B", branch, commit)
        repo.git.reset("--hard", commit)
        repo.git.clean("-ffdxq", *_excludes("-e"))
        drop_bytecode(dest)
    except git.GitCommandError as exc:
        raise git_error(
            "clone/fetch",
            exc,
            f"check that {location} is reachable and has branch {branch}, "
            f"and {credentials_hint(token_env)}",
            token_env,
        ) from exc
    return repo.head.commit.hexsha, *kept


def drop_bytecode(folder: Path) -> int:
    """Remove the ``__pycache__`` folders and ``.pyc`` files runs left in a Git folder (not
    under ``.git``); returns how many. Called after every checkout: Python trusts a ``.pyc``
    whose source has the same size and modification second (PEP 552's default, timestamp
    pycs), so a node edited and checked out within the second of the last run's import
    would run its old code. Found by the local-cluster test: applies a second apart ran the
    previous edit of ``nodes.py``."""
    removed = 0
    # git's own folder and the run-output folders (data can be thousands of files) hold no code
    skipped = {".git", *(p.strip("/") for p in RUN_OUTPUTS
                         if p.startswith("/") and p.endswith("/"))}
    for top, dirs, files in os.walk(folder):
        if Path(top) == Path(folder):
            dirs[:] = [d for d in dirs if d not in skipped]
        if "__pycache__" in dirs:
            dirs.remove("__pycache__")
            shutil.rmtree(Path(top) / "__pycache__", ignore_errors=True)
            removed += 1
        for name in files:
            if name.endswith(".pyc"):
                (Path(top) / name).unlink(missing_ok=True)
                removed += 1
    return removed


def _remove_stale_locks(git_dir: Path) -> list[Path]:
    """Remove the lock files (``index.lock``, ``HEAD.lock``, ref locks) a killed git command
    left in the Git folder's clone, which would make every later git command there fail.

    Safe because the clone is bricksmith's own and the target's lock rules out another apply
    working in it at the same time. Returns the files removed."""
    if not git_dir.is_dir():
        return []
    found = [*git_dir.glob("*.lock"), *(git_dir / "refs").rglob("*.lock")]
    for lock in found:
        lock.unlink(missing_ok=True)
    return found


def _read(file: Path) -> bytes | None:
    """The bytes of ``file`` (a symlink's target path), None when it is not there."""
    try:
        if file.is_symlink():
            return str(file.readlink()).encode()
        return file.read_bytes()
    except OSError:
        return None


def _blob(dest: Path, commit: str, rel: str) -> bytes | None:
    """The bytes ``commit`` holds at ``rel`` in the clone at ``dest``; None when it has none."""
    import subprocess

    done = subprocess.run(["git", "cat-file", "blob", f"{commit}:{rel}"], cwd=dest,
                          capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None
