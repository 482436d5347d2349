"""A separate virtualenv holding the competitor tools the benchmarks compare against.

``tools_env(cache)`` makes ``cache/tools-venv`` once (``uv venv`` + ``uv pip install dvc
snakemake matplotlib``) and reuses it while its completion marker is there. These tools are for
the benchmarks only: they are never dependencies of bricksmith itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("dvc", "snakemake", "matplotlib")
MARKER = ".bench-complete.json"  # written last: its presence means the install finished


@dataclass(frozen=True)
class ToolEnv:
    python: Path
    dvc: Path
    snakemake: Path
    versions: dict[str, str]  # package -> installed version


def uv_command() -> list[str]:
    """uv on PATH, else the uv module installed in the current interpreter."""
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _run(args: list[str], what: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True)
    except OSError as exc:
        raise RuntimeError(f"benchmark tools: cannot {what}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise RuntimeError(f"benchmark tools: failed to {what} (exit {done.returncode}):\n{tail}")
    return done.stdout


def _env(venv: Path, versions: dict[str, str]) -> ToolEnv:
    return ToolEnv(python=venv / "bin" / "python", dvc=venv / "bin" / "dvc",
                   snakemake=venv / "bin" / "snakemake", versions=versions)


def tools_env(cache: Path) -> ToolEnv:
    """The tools venv at ``cache/tools-venv``, installed on first use."""
    venv = Path(cache).resolve() / "tools-venv"
    marker = venv / MARKER
    if marker.is_file():
        env = _env(venv, json.loads(marker.read_text()))
        if all(p.is_file() for p in (env.python, env.dvc, env.snakemake)):
            _compile(env)
            return env
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = uv_command()
    _run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], f"create {venv}")
    python = str(venv / "bin" / "python")
    _run([*uv, "pip", "install", "-q", "--python", python, *PACKAGES],
         f"install {' '.join(PACKAGES)} into {venv}")
    script = ("import importlib.metadata as m, json, sys; "
              "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))")
    versions = json.loads(_run([python, "-c", script, *PACKAGES], "read the tool versions"))
    env = _env(venv, versions)
    missing = [str(p) for p in (env.dvc, env.snakemake) if not p.is_file()]
    if missing:
        raise RuntimeError(f"benchmark tools: installed but missing {', '.join(missing)}")
    marker.write_text(json.dumps(versions))
    _compile(env)
    return env


def _compile(env: ToolEnv) -> None:
    """The .pyc files an installer writes, as bricksmith gets (``common.compile_bytecode``):
    the tools are timed as installed, not compiling their modules on every start."""
    script = "import site, sys; print(*site.getsitepackages(), sep='\\n')"
    folders = _run([str(env.python), "-c", script], "find the tools' site-packages").split()
    _run([str(env.python), "-m", "compileall", "-q", "-j", "0", *folders],
         "compile the tools' bytecode")


if __name__ == "__main__":
    print(tools_env(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-cache")))
