"""Isolated run environments: the local stand-in for a cluster's ``%pip install -r``.

A run environment is a virtualenv built from a project's ``requirements.txt`` (plus IPython,
which the notebook kernel needs), cached under ``cache_dir/<key[:16]>`` where the key is the
sha256 of the whole requirement set (the file, every file it includes with ``-r``/``-c``, the
package files of its local path requirements: ``requirements_closure``) and the Python
version. It is built with uv (found
through the ``uv`` package) or, without uv, with ``python -m venv`` and pip; it sees none of
bricksmith's own packages.

A Databricks runtime comes with libraries that projects written for it leave out of their
requirements: Spark above all (``kedro-datasets[spark-sparkdataset]`` does not install pyspark).
When the requirements use Spark (``pyspark``, or a ``spark`` extra of kedro-datasets), the
environment gets ``pyspark`` too, and ``hdfs`` and ``s3fs``, which kedro-datasets' SparkDataset
imports (:func:`runtime_libraries`).

Building is safe to race: a file lock per key makes two runs that need the same environment
build it once; the environment is built in a temporary folder and renamed into place, with a
marker file written last, so a half-built environment is never used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from bricksmith.backends import requirements_closure as closure
from bricksmith.errors import EnvironmentBuildError
from bricksmith.logged import run_logged, tail

MARKER = ".bricksmith-env.json"
SPARK = ("pyspark",)  # preinstalled on a Databricks runtime
KEDRO_SPARK_IMPORTS = ("hdfs", "s3fs")  # kedro_datasets.spark imports them at import time
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


@dataclass(frozen=True)
class RuntimeEnv:
    python: Path  # the environment's interpreter
    key: str  # requirements_key() of the requirements it was built from
    built: bool  # True when this call built it, False when it came from the cache


def requirements_key(requirements: Path) -> str:
    """The cache key of the requirement set ``requirements`` asks for, for this Python version
    (see ``requirements_closure.requirements_key``; the notebook kernel computes it the same
    way). Raises OSError when the file cannot be read."""
    return closure.requirements_key(requirements)


def runtime_libraries(requirements: str) -> list[str]:
    """What a Databricks runtime would provide that ``requirements`` (the text of a
    requirements file) rely on without naming: Spark for a project that uses it."""
    spark, kedro_spark = False, False
    for raw in requirements.splitlines():
        match = _REQUIREMENT.match(raw.split("#", 1)[0])
        if not match:
            continue
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        extras = (match.group(2) or "").lower()
        if name == "pyspark":
            spark = True
        elif name == "kedro-datasets" and "spark" in extras:
            spark = kedro_spark = True
    if not spark:
        return []
    return [*SPARK, *(KEDRO_SPARK_IMPORTS if kedro_spark else ())]


def has_package(python: Path, package: str) -> bool:
    """Whether the environment of ``python`` has the top-level ``package`` installed."""
    root = Path(python).parent.parent
    folders = [*root.glob("lib/python*/site-packages"), root / "Lib" / "site-packages"]
    return any((folder / package / "__init__.py").is_file() for folder in folders)


def env_python(root: Path) -> Path:
    """The interpreter of the environment at ``root``."""
    if os.name == "nt":
        return root / "Scripts" / "python.exe"
    return root / "bin" / "python"


def ensure_environment(
    requirements: Path, cache_dir: Path, *, log_path: Path | None = None
) -> RuntimeEnv:
    """Return the environment for ``requirements``, building it first if it is not cached."""
    requirements = Path(requirements).resolve()
    cache_dir = Path(cache_dir).resolve()
    try:
        key = requirements_key(requirements)
        text = closure.closure_text(requirements)
    except OSError as exc:
        raise EnvironmentBuildError(
            f"Cannot read the requirements file {requirements}: {exc.strerror or exc}",
            hint="The Kedro project must have a requirements.txt at its root.",
        ) from exc
    root = cache_dir / key[:16]
    if _is_ready(root, key):
        return RuntimeEnv(env_python(root), key, built=False)

    cache_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path else cache_dir / f"{key[:16]}.build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f"{key[:16]}.lock")):
        if _is_ready(root, key):  # another process built it while we waited
            return RuntimeEnv(env_python(root), key, built=False)
        if root.exists():  # a leftover without its marker: never finished
            shutil.rmtree(root)
        for leftover in cache_dir.glob(f".build-{key[:16]}-*"):  # of builds killed (the lock
            shutil.rmtree(leftover, ignore_errors=True)  # is held: none of them is running)
        staging = cache_dir / f".build-{key[:16]}-{uuid.uuid4().hex[:8]}"
        extra = runtime_libraries(text)
        try:
            _build(staging, requirements, log_path, extra)
            marker = {
                "key": key,
                "requirements": str(requirements),
                "runtime_libraries": extra,
                "python": sys.version.split()[0],
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            staging.rename(root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return RuntimeEnv(env_python(root), key, built=True)


def _is_ready(root: Path, key: str) -> bool:
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("key") == key and env_python(root).exists()


def _find_uv() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None


def _build(target: Path, requirements: Path, log_path: Path, extra: list[str]) -> None:
    """Create a virtualenv at ``target`` and install ``requirements``, IPython and ``extra``
    (the runtime's libraries) into it. The installers' temporary files go to ``<target>.tmp``
    (removed at the end; a killed build's by the next build), never to the system's TMPDIR."""
    scratch = target.with_name(target.name + ".tmp")
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        _install(target, requirements, log_path, extra, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _install(target: Path, requirements: Path, log_path: Path, extra: list[str],
             scratch: Path) -> None:
    if extra:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(
                f"[bricksmith] adding {', '.join(extra)}: the project uses Spark, which a "
                "Databricks runtime provides without it being in requirements.txt\n"
            )
    uv = _find_uv()
    python = env_python(target)
    install = [str(python), "-m", "pip", "install", "-r", str(requirements), "ipython", *extra]
    steps = [[sys.executable, "-m", "venv", str(target)], install]
    if uv:
        # --relocatable: the environment is built under a temporary name and renamed.
        # --seed: pip in the environment, for a notebook's own %pip installs.
        install = [uv, "pip", "install", "--python", str(python), "-r", str(requirements)]
        install += ["ipython", *extra]
        steps = [
            [uv, "venv", "--python", sys.executable, "--seed", "--relocatable", str(target)],
            install,
        ]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "PIP_NO_INPUT": "1",
           "TMPDIR": str(scratch), "TEMP": str(scratch), "TMP": str(scratch)}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"):
        env.pop(name, None)
    for command in steps:
        # nested -r / -e paths in requirements.txt are relative to the project
        if uv and command is install and _offline_first(command, log_path, requirements, env):
            continue
        if run_logged(command, log_path=log_path, cwd=requirements.parent, env=env) != 0:
            raise EnvironmentBuildError(
                f"Building the run environment from {requirements} failed "
                f"({' '.join(command[:3])}...).",
                hint=f"Check that every requirement exists and installs; see {log_path}.",
                log_tail=tail(log_path),
            )


def _offline_first(
    command: list[str], log_path: Path, requirements: Path, env: dict[str, str]
) -> bool:
    """Install from uv's cache alone; False (nothing installed) when something is missing.

    A registry whose responses always look modified makes uv download everything again, and
    rebuild packages published only as source (pyspark: ~30 s and ~1 GB of cache each time);
    from the cache, a Spark environment builds in under a second.
    """
    offline = [*command, "--offline"]
    if run_logged(offline, log_path=log_path, cwd=requirements.parent, env=env) == 0:
        return True
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("[bricksmith] not everything is in uv's cache: installing from the index\n")
    return False
