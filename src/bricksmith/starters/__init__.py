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
    "create_project",
    "describe_starter",
    "package_name",
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
