"""Wall time of the competitors' planning commands on the same DAG of N stages.

``time_dvc_status`` times ``dvc status`` in a git + DVC repository and
``time_snakemake_dry_run`` times ``snakemake -n -q`` (a dry run), each on the binary tree of
``workloads.py`` (stage i depends on stage i // 2). Set-up is not timed; each repeat is a fresh
subprocess in the same prepared folder, and the median wall time is reported.

``snakemake -n -q`` builds the DAG, works out which jobs must run and prints a summary: the
plan. Without ``-q`` (or with any other ``--quiet`` set) the dry run also walks its scheduler
to list every job in order, which grows quadratically: 10.5 s instead of 7.3 s at 1,000 jobs,
and not done in 600 s at 10,000 (``-q``: 31-36 s). ``list_jobs=True`` times that variant.

State of the workload ("fresh", the default, the same for every N): nothing has run yet. Any
earlier outputs, ``dvc.lock``, DVC cache and ``.snakemake`` metadata in the folder are deleted,
so every stage is out of date and the tool has to work out the whole plan, which compares with
bricksmith planning from scratch.

State "after run" (``after_run=True``): every output exists and is up to date, so the tool
checks the whole DAG and finds nothing to do.
 - DVC: outputs are written as the stage commands would write them and recorded with
   ``dvc commit -f`` (the state ``dvc repro`` leaves). Running ``dvc repro`` itself is far too
   slow here: at 1,000 stages it had done 395 stages after 11.5 min, ~2.7 s a stage and growing.
   ``dvc commit`` takes ~37 s at 1,000 stages and ~5 min at 10,000.
 - Snakemake: a real ``snakemake --cores <cpus>`` run (~45 s at 1,000 jobs), which also
   records its provenance metadata. At 10,000 jobs it had done only 4,778 after 20 min.
 Hence "after run" is skipped above ``after_run_max`` stages (1,000 by default), with a note.

No network: ``DVC_NO_ANALYTICS=1`` and ``core.analytics``/``core.check_update`` off in the
repository's ``.dvc/config.local``; DVC's site cache is kept inside the repository.
Run ``python -m benchmarks.competitors CACHE N...`` for a quick table.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.toolenv import ToolEnv
from benchmarks.workloads import dvc_project, snakefile

AFTER_RUN_MAX = 1000


@dataclass
class Timing:
    seconds: float | None  # median wall time of the runs; None when not ok
    runs: list[float] = field(default_factory=list)
    ok: bool = True
    note: str = ""


class _SetupError(Exception):
    pass


def _env() -> dict[str, str]:
    """As bricksmith's: bytecode caches on (this machine may set PYTHONDONTWRITEBYTECODE=1,
    which would make every dvc start compile from source), no analytics."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _setup(cmd: list[str], cwd: Path, timeout: float) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise _SetupError(f"set-up `{' '.join(cmd[1:])}` timed out after {timeout:g} s") from exc
    if done.returncode:
        raise _SetupError(f"set-up `{' '.join(cmd[1:])}` failed: {_tail(done.stderr)}")


def _measure(cmd: list[str], cwd: Path, repeats: int, timeout: float,
             check: Callable[[str], str]) -> Timing:
    """Run ``cmd`` ``repeats`` times; ``check(output)`` returns a problem or ''."""
    runs: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return Timing(None, runs, False, f"timed out after {timeout:g} s")
        runs.append(time.perf_counter() - start)
        if done.returncode:
            return Timing(None, runs, False, f"exit {done.returncode}: {_tail(done.stderr)}")
        problem = check(done.stdout + done.stderr)
        if problem:
            return Timing(None, runs, False, problem)
    return Timing(statistics.median(runs), runs, True)


def _clean(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _write_outputs(folder: Path, stages: int) -> None:
    """What ``echo i > out/i.txt`` writes, parents before children (so mtimes are ordered)."""
    (folder / "out").mkdir(exist_ok=True)
    for i in range(1, stages + 1):
        (folder / "out" / f"{i}.txt").write_text(f"{i}\n")


def _skip(stages: int, after_run_max: int, why: str) -> Timing:
    return Timing(None, [], False, f"skipped 'after run' at {stages} stages "
                                   f"(> {after_run_max}): {why}")


def time_dvc_status(folder: Path, stages: int, env: ToolEnv, repeats: int = 3,
                    timeout: float = 600, after_run: bool = False,
                    after_run_max: int = AFTER_RUN_MAX) -> Timing:
    """Median wall time of ``dvc status`` in ``folder`` (a repo of ``stages`` stages)."""
    if after_run and stages > after_run_max:
        return _skip(stages, after_run_max, "its dvc commit set-up takes ~5 min at 10,000")
    folder = Path(folder).resolve()
    _clean(folder, "out", "dvc.lock", ".dvc/cache", ".dvc/tmp")
    dvc_project(folder, stages, env.dvc)
    (folder / ".dvc" / "config.local").write_text(
        "[core]\n    analytics = false\n    check_update = false\n"
        f"    site_cache_dir = {folder / '.dvc' / 'tmp' / 'site-cache'}\n")
    if after_run:
        _write_outputs(folder, stages)
        try:
            _setup([str(env.dvc), "commit", "-f", "-q"], folder, timeout)
        except _SetupError as exc:
            return Timing(None, [], False, str(exc))

    def check(output: str) -> str:
        if after_run:
            return "" if "up to date" in output else "dvc status found changes after commit"
        changed = len(re.findall(r"^s\d+:$", output, re.M))
        return "" if changed == stages else f"dvc status listed {changed}/{stages} stages"

    return _measure([str(env.dvc), "status"], folder, repeats, timeout, check)


def time_snakemake_dry_run(folder: Path, stages: int, env: ToolEnv, repeats: int = 3,
                           timeout: float = 600, after_run: bool = False,
                           after_run_max: int = AFTER_RUN_MAX,
                           list_jobs: bool = False) -> Timing:
    """Median wall time of ``snakemake -n -q`` in ``folder`` (a Snakefile of ``stages`` rules).

    ``list_jobs=True`` times the dry run that lists every job instead (see the module doc).
    """
    if after_run and stages > after_run_max:
        return _skip(stages, after_run_max, "a real run of 10,000 jobs is not done in 20 min")
    folder = Path(folder).resolve()
    _clean(folder, "out", ".snakemake")
    snakefile(folder, stages)
    if after_run:
        try:
            _setup([str(env.snakemake), "--cores", str(os.cpu_count() or 1), "-q"],
                   folder, timeout)
        except _SetupError as exc:
            return Timing(None, [], False, str(exc))

    def check(output: str) -> str:
        done = "Nothing to be done" in output
        if after_run or not list_jobs:  # -q prints no job count
            return "" if done == after_run else f"snakemake -n: nothing to be done is {done}"
        total = re.search(r"^total\s+(\d+)", output, re.M)
        jobs = int(total.group(1)) if total else 0
        return "" if jobs == stages + 1 else f"snakemake -n planned {jobs}/{stages + 1} jobs"

    quiet = ["--quiet", "host", "rules"] if list_jobs else ["-q"]
    cmd = [str(env.snakemake), "-n", "--cores", "1", *quiet]
    return _measure(cmd, folder, repeats, timeout, check)


if __name__ == "__main__":
    import json

    from benchmarks.toolenv import tools_env

    cache = Path(sys.argv[1])
    tools = tools_env(cache)
    print(json.dumps(tools.versions), flush=True)
    for n in map(int, sys.argv[2:]):
        for name, timer in (("dvc status", time_dvc_status),
                            ("snakemake -n", time_snakemake_dry_run)):
            for after in (False, True):
                tool = name.split()[0]
                timing = timer(cache / f"{tool}-{n}", n, tools, after_run=after)
                row = {"tool": name + (" (after run)" if after else ""), "n": n, **asdict(timing)}
                print(json.dumps(row), flush=True)
