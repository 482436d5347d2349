"""Kedro starters: the built-in ones, resolving a spec's ``project.starter``, creating a project.

A starter is a cookiecutter template that ``kedro new --starter <folder>`` accepts. bricksmith
ships ``databricks-iris``, an offline, pandas-based equivalent of Kedro's starter of that name
(Kedro's own alias clones the kedro-starters repository, which needs the network). A spec may
also name a local template folder or a git starter repository (``starters.resolve``). Projects
are always created by Kedro's own ``kedro new``, run in a subprocess that can never prompt.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bricksmith.errors import ScaffoldError
from bricksmith.logged import run_logged, tail
from bricksmith.starters.resolve import (
    BUILTIN_STARTERS,
    builtin_starter_path,
    describe_starter,
    resolve_starter,
    starter_template,
)

__all__ = [
    "BUILTIN_STARTERS",
    "builtin_starter_path",
    "clean_staging",
    "create_project",
    "describe_starter",
    "package_name",
    "project_staging",
    "resolve_starter",
    "starter_template",
]


def package_name(repo_name: str) -> str:
    """The Python package name Kedro would derive from ``repo_name`` (``iris-databricks`` ->
    ``iris_databricks``)."""
    name = re.sub(r"\W+", "_", repo_name.strip()).strip("_").lower()
    if not name:
        raise ScaffoldError(f"Cannot derive a Python package name from {repo_name!r}.")
    return f"_{name}" if name[0].isdigit() else name


STAGING_CONFIG = "bricksmith-kedro-new.yml"
# ``python -c DIE_WITH_PARENT <pid> <module> <args>``: ``python -m <module> <args>`` that is
# killed when the apply (pid) dies (Linux: PR_SET_PDEATHSIG), so a killed apply's ``kedro new``
# never goes on writing into a staging folder the next apply removes.
DIE_WITH_PARENT = (
    "import ctypes, os, runpy, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "except (AttributeError, OSError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit('bricksmith: the apply that started this ended')\n"
    "sys.argv = sys.argv[2:]\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
)


def staging_prefix(dest: Path) -> str:
    """The name every staging folder of a project at ``dest`` starts with."""
    return f".{Path(dest).name}-new-"


@contextmanager
def project_staging(dest: Path) -> Iterator[Path]:
    """A new staging folder next to ``dest`` (``.<name>-new-<pid>-XXXX``), removed on exit.

    Everything a project's creation writes goes in it: the starter's clone (``starter/``),
    ``kedro new``'s output (``out/``) and its temporary files (``tmp/``, its TMPDIR: cookiecutter
    writes its hook scripts there). Staging folders that killed applies left are removed first
    (:func:`clean_staging`), so none outlives the next scaffold.
    """
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_staging(dest)
    staging = Path(tempfile.mkdtemp(prefix=f"{staging_prefix(dest)}{os.getpid()}-",
                                    dir=dest.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def clean_staging(dest: Path) -> list[Path]:
    """Remove the staging folders next to ``dest`` of creations that are over (their apply is
    gone and no process works in them). Returns the folders removed."""
    dest = Path(dest).resolve()
    removed = []
    for folder in dest.parent.glob(f"{staging_prefix(dest)}*"):
        if folder.is_symlink() or not folder.is_dir() or not _ours(folder, dest):
            continue
        if _in_use(folder, _creator(folder, dest)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _creator(folder: Path, dest: Path) -> int | None:
    head = folder.name[len(staging_prefix(dest)):].partition("-")
    return int(head[0]) if head[1] and head[0].isdigit() else None


def _ours(folder: Path, dest: Path) -> bool:
    """A staging folder bricksmith made: named with its creator's pid, or (older ones) holding
    only what a creation puts there."""
    if _creator(folder, dest) is not None:
        return True
    try:
        names = {entry.name for entry in folder.iterdir()}
    except OSError:
        return False
    return STAGING_CONFIG in names or not names


def _in_use(folder: Path, creator: int | None) -> bool:
    """Whether the apply that made ``folder`` still runs, or any process works inside it (a
    ``kedro new`` whose apply was killed on its own)."""
    if creator is not None and creator != os.getpid() and _alive(creator):
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    inside = str(folder.resolve())
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == inside or cwd.startswith(inside + os.sep):
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


def create_project(
    starter: Path, dest: Path, *, project_name: str, log_path: Path,
    staging: Path | None = None,
) -> None:
    """Create a Kedro project from the template ``starter`` at exactly ``dest``.

    Runs ``kedro new --starter <starter> --config <answers> --telemetry no`` with the current
    Python. ``dest.name`` is the repo name; the package name is derived from it. The project is
    generated in a staging folder next to ``dest`` (``staging``, from :func:`project_staging`,
    or one of its own) and moved into place, so ``dest`` never holds half a project; Kedro's
    temporary files stay in it too. Kedro's output goes to ``log_path``.
    """
    dest = Path(dest).resolve()
    log_path = Path(log_path)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ScaffoldError(
            f"Cannot create the project at {dest}: it already exists and is not empty.",
            hint="Remove it, or point project.path at a new folder.",
        )
    if staging is None:
        with project_staging(dest) as own:
            return create_project(starter, dest, project_name=project_name,
                                  log_path=log_path, staging=own)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out, tmp = staging / "out", staging / "tmp"
    out.mkdir()
    tmp.mkdir()
    answers = {
        "project_name": project_name,
        "repo_name": dest.name,
        "python_package": package_name(dest.name),
        "output_dir": str(out),
    }
    config = staging / STAGING_CONFIG
    config.write_text(yaml.safe_dump(answers, sort_keys=False), encoding="utf-8")
    command = [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), "kedro", "new"]
    command += ["--starter", str(starter)]
    command += ["--config", str(config), "--telemetry", "no"]
    # cookiecutter writes its hook scripts to the temporary folder: the staging folder's
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1",
           "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)}
    code = run_logged(command, log_path=log_path, cwd=staging, env=env)
    created = [p for p in out.iterdir() if p.is_dir()]
    if code != 0 or len(created) != 1:
        reason = f"exit status {code}" if code != 0 else f"{len(created)} folders created"
        raise ScaffoldError(
            f"Kedro could not create the project from the starter {starter} ({reason}).",
            hint=f"See {log_path} for Kedro's output.",
            log_tail=tail(log_path),
        )
    if dest.exists():
        dest.rmdir()  # empty, checked above
    created[0].rename(dest)
