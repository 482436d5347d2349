"""What every benchmark shares: timing a command, the environment bricksmith runs in."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bricksmith_env(cache: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked bricksmith: bytecode caches on (as after a normal
    install), Kedro telemetry off, run environments cached under ``cache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(DO_NOT_TRACK="1", KEDRO_DISABLE_TELEMETRY="1", NO_COLOR="1",
               BRICKSMITH_CACHE_DIR=str(cache / "bricksmith"), **extra)
    return env


def compile_bytecode() -> None:
    """Write the .pyc files an installer writes (this machine may run with
    PYTHONDONTWRITEBYTECODE=1, which would make every start compile from source)."""
    import site

    folders = [*site.getsitepackages(), str(REPO / "src")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *folders],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def bricksmith(*args: str) -> list[str]:
    return [sys.executable, "-m", "bricksmith.cli", *args]


def run(command: list[str], *, cwd: Path, env: dict[str, str], check: bool = True,
        timeout: float = 3600) -> tuple[float, subprocess.CompletedProcess]:
    """(wall seconds, the finished process) of one run of ``command``."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    if check and done.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, done


def median_of(command: list[str], *, cwd: Path, env: dict[str, str], repeats: int = 3) -> float:
    return statistics.median(run(command, cwd=cwd, env=env)[0] for _ in range(repeats))


def peak_rss_mb(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    """The peak resident memory of one run of ``command`` (run in a fresh child, so the
    children's maximum is this command's own)."""
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    _, done = run([sys.executable, "-c", probe, *command], cwd=cwd, env=env)
    assert resource  # the probe runs in its own interpreter; ru_maxrss is in KiB on Linux
    return int(done.stdout.split()[-1]) / 1024
