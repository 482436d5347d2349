"""Kedro starters: the built-in ones, resolving a spec's ``project.starter``, creating a project.

A starter is a cookiecutter template that ``kedro new --starter <folder>`` accepts. bricksmith
ships ``databricks-iris``, an offline, pandas-based equivalent of Kedro's starter of that name
(Kedro's own alias clones the kedro-starters repository, which needs the network). Projects are
always created by Kedro's own ``kedro new``, run in a subprocess that can never prompt.
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

BUILTIN_STARTERS: tuple[str, ...] = ("databricks-iris",)
_HERE = Path(__file__).resolve().parent
_GIT_URL = re.compile(r"^(git\+|[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)


def builtin_starter_path(name: str) -> Path:
    """The template folder of the built-in starter ``name``."""
    if name not in BUILTIN_STARTERS:
        raise ScaffoldError(
            f"Unknown built-in starter {name!r}.",
            hint=f"Built-in starters: {', '.join(BUILTIN_STARTERS)}.",
        )
    return _HERE / name


@contextmanager
def starter_template(value: str, base_dir: Path) -> Iterator[Path]:
    """``resolve_starter`` whose cloned repository (if any) is deleted on exit."""
    with tempfile.TemporaryDirectory(prefix="bricksmith-starter-") as folder:
        yield resolve_starter(value, base_dir, clone_into=Path(folder) / "starter")


def resolve_starter(value: str, base_dir: Path, *, clone_into: Path | None = None) -> Path:
    """The template folder for a spec's ``project.starter``.

    ``value`` is a built-in starter name, a local template folder (relative to ``base_dir``),
    or a git repository: a URL (``https://``, ``ssh://``, ``file://``, ``git@host:path``,
    optionally prefixed ``git+``) or a local repository path, optionally ending
    ``#<folder inside the repository>``. A repository is cloned into ``clone_into``, or into a
    new temporary folder, which the caller may delete when done (``starter_template`` does).
    """
    if value in BUILTIN_STARTERS:
        return builtin_starter_path(value)
    location, _, subdir = value.partition("#")
    local = Path(location).expanduser()
    if not local.is_absolute():
        local = Path(base_dir) / local
    if local.is_dir():
        if not subdir and (local / "cookiecutter.json").is_file():
            return local.resolve()
        if _is_git_repository(local):
            return _clone(str(local.resolve()), subdir or None, clone_into)
        raise ScaffoldError(
            f"The starter folder {local} has no cookiecutter.json.",
            hint="A starter is a cookiecutter template: cookiecutter.json and "
            "a '{{ cookiecutter.repo_name }}' folder.",
        )
    if _GIT_URL.match(location) or location.endswith(".git"):
        return _clone(location.removeprefix("git+"), subdir or None, clone_into)
    raise ScaffoldError(
        f"Starter {value!r} is not a built-in starter, a folder or a git URL.",
        hint=f"Use one of {', '.join(BUILTIN_STARTERS)}, a template folder relative to "
        f"{base_dir}, or a git URL.",
    )


def _is_git_repository(path: Path) -> bool:
    bare = (path / "HEAD").is_file() and (path / "objects").is_dir()
    return bare or (path / ".git").exists()


def _clone(url: str, subdir: str | None, target: Path | None) -> Path:
    try:
        import git  # GitPython: imported here, it is slow to import and needs a git binary
    except ImportError as exc:
        raise ScaffoldError(
            f"Cannot clone the starter {url}: GitPython is unusable ({exc}).",
            hint="Install git, or use a built-in starter or a local template folder.",
        ) from exc
    target = target or Path(tempfile.mkdtemp(prefix="bricksmith-starter-"))
    # Never prompt for credentials: fail instead (there is no one to answer).
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if "GIT_SSH_COMMAND" not in os.environ:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    try:
        git.Repo.clone_from(url, target, depth=1, env=env)
    except git.GitCommandError as exc:
        shutil.rmtree(target, ignore_errors=True)
        detail = (exc.stderr or "").strip().removeprefix("stderr:").strip().strip("'").strip()
        raise ScaffoldError(
            f"Cannot clone the starter repository {url}.",
            hint="Check the URL and that the repository is reachable from here.",
            log_tail=detail or str(exc),
        ) from exc
    template = target / subdir if subdir else target
    if not (template / "cookiecutter.json").is_file():
        shutil.rmtree(target, ignore_errors=True)
        where = f"{url}#{subdir}" if subdir else url
        raise ScaffoldError(
            f"The starter repository {where} has no cookiecutter.json at its root.",
            hint="Point at the template folder inside the repository with '#<folder>'.",
        )
    return template


def package_name(repo_name: str) -> str:
    """The Python package name Kedro would derive from ``repo_name`` (``iris-databricks`` ->
    ``iris_databricks``)."""
    name = re.sub(r"\W+", "_", repo_name.strip()).strip("_").lower()
    if not name:
        raise ScaffoldError(f"Cannot derive a Python package name from {repo_name!r}.")
    return f"_{name}" if name[0].isdigit() else name


def create_project(starter: Path, dest: Path, *, project_name: str, log_path: Path) -> None:
    """Create a Kedro project from the template ``starter`` at exactly ``dest``.

    Runs ``kedro new --starter <starter> --config <answers> --telemetry no`` with the current
    Python. ``dest.name`` is the repo name; the package name is derived from it. The project is
    generated in a temporary folder next to ``dest`` and moved into place, so ``dest`` never
    holds half a project. Kedro's output goes to ``log_path``.
    """
    dest = Path(dest).resolve()
    log_path = Path(log_path)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ScaffoldError(
            f"Cannot create the project at {dest}: it already exists and is not empty.",
            hint="Remove it, or point project.path at a new folder.",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-new-", dir=dest.parent))
    try:
        answers = {
            "project_name": project_name,
            "repo_name": dest.name,
            "python_package": package_name(dest.name),
            "output_dir": str(staging),
        }
        config = staging / "bricksmith-kedro-new.yml"
        config.write_text(yaml.safe_dump(answers, sort_keys=False), encoding="utf-8")
        command = [sys.executable, "-m", "kedro", "new", "--starter", str(starter)]
        command += ["--config", str(config), "--telemetry", "no"]
        env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"}
        code = run_logged(command, log_path=log_path, cwd=staging, env=env)
        created = [p for p in staging.iterdir() if p.is_dir()]
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
    finally:
        shutil.rmtree(staging, ignore_errors=True)
