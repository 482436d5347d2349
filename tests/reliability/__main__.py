"""``python -m tests.reliability``: the reliability report.

Runs the crash harness over the seed workflow (every step boundary plus random points inside
steps, on the local backend and on the emulator), the bad-input corpus, and applies against the
emulator with injected transient faults; prints one table. Takes several minutes.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tests.reliability.harness import (
    SEED_STEPS,
    KillPoint,
    base_env,
    boundary_points,
    check_end_state,
    run_apply,
    run_trial,
    seed_spec,
)

MIN_KILLS = 30  # per backend

# Steps long enough for a random delay to land inside them, with a typical duration (s).
LONG_STEPS = {"project.scaffold": 2.5, "run.baseline": 6.0, "run.split-70": 6.0,
              "git.push": 0.3, "data.upload[0]": 0.2}


def random_points(count: int, rng: random.Random) -> list[KillPoint]:
    """``count`` kill points inside steps, in the order a --parallelism 1 apply meets them."""
    points = [KillPoint("started", step, round(rng.uniform(0.05, LONG_STEPS[step]), 2))
              for step in rng.choices(list(LONG_STEPS), k=count)]
    return sorted(points, key=lambda p: SEED_STEPS.index(p.step))


def chains(points: list[KillPoint]) -> list[list[KillPoint]]:
    """Split points into chains whose steps only move forward (each chain is one trial)."""
    result: list[list[KillPoint]] = []
    for point in points:
        for chain in result:
            if SEED_STEPS.index(chain[-1].step) < SEED_STEPS.index(point.step):
                chain.append(point)
                break
        else:
            result.append([point])
    return result


def crash_row(label: str, trials, problems: list[str]) -> tuple:
    tried = sum(len(t.killed) for t in trials)
    recovered = sum(len(t.killed) for t in trials if t.recovered)
    duplicates = sum(1 for p in problems if "commits" in p or "job runs" in p
                     or "times to its end" in p)
    return label, tried, recovered, duplicates, len(problems)


def run_crashes(folder: Path, rng: random.Random, *, emulated: bool, console: Console):
    from bricksmith.emulator import Emulator

    trials, problems = [], []
    pending = [boundary_points()]
    # then random points inside steps until at least MIN_KILLS applies were really killed
    # (a random point can land after its apply already finished: it does not count)
    index = 0
    while pending or (sum(len(t.killed) for t in trials) < MIN_KILLS and index < 12):
        points = pending.pop(0) if pending else chains(random_points(6, rng))[0]
        work = folder / f"{'emulated' if emulated else 'local'}-{index}"
        index += 1
        work.mkdir()
        env = base_env(work / "tmp")
        emulator = None
        if emulated:
            emulator = Emulator(work / "workspace", token="reliability-token", run_delay_s=1.0,
                                cluster_start_s=0.2)
            emulator.start()
            env["DATABRICKS_TOKEN"] = emulator.token
            env["DATABRICKS_CONFIG_FILE"] = str(work / "none")
        try:
            spec = seed_spec(work, emulator.url if emulator else None)
            trial = run_trial(spec, points, env)
            root = work / (".bricksmith/emulated" if emulated else ".bricksmith/local")
            dbfs = emulator.root / "dbfs" if emulator else root / "dbfs"
            trial.problems += check_end_state(spec, env, root=root, dbfs=dbfs, submissions=2,
                                              emulator=emulator)
        finally:
            if emulator:
                emulator.stop()
        console.print(f"  {'emulator' if emulated else 'local'} trial {index - 1}: "
                      f"{len(trial.killed)} kills ({len(trial.moved)} moved to a step's end), "
                      f"{trial.applies} applies, "
                      f"{'recovered' if trial.recovered else trial.problems}")
        trials.append(trial)
        problems += trial.problems
    return trials, problems


def run_faults(folder: Path, seeds: list[int], rate: float, console: Console):
    from bricksmith.emulator import Emulator, FaultPolicy

    succeeded, duplicates = 0, 0
    for seed in seeds:
        work = folder / f"faults-{seed}"
        work.mkdir()
        faults = FaultPolicy(rate=rate, seed=seed, retry_after_s=0, drop_after_rate=rate)
        with Emulator(work / "workspace", token="t", faults=faults, cluster_start_s=0.2) as emu:
            env = {**base_env(), "DATABRICKS_TOKEN": "t",
                   "DATABRICKS_CONFIG_FILE": str(work / "none")}
            spec = seed_spec(work, emu.url)
            ok = run_apply(spec, env, None, parallelism=4).returncode == 0
            succeeded += ok
            duplicates += max(0, len(emu.runs) - 2) + max(
                0, emu.calls["POST /api/2.0/repos"] - 1)
            console.print(f"  faults seed {seed}: {'succeeded' if ok else 'FAILED'}, "
                          f"{emu.faults_injected} faults injected")
    return succeeded, duplicates


def run_bad_inputs() -> tuple[int, int]:
    """(bad inputs tried, rejected cleanly): the corpus tests, each a malformed spec or
    argument that must exit 1 naming file:line:col or the argument, without a traceback and
    without writing anything."""
    import pytest

    class Count:
        tried = clean = 0

        def pytest_runtest_logreport(self, report) -> None:
            if report.when == "call":
                self.tried += 1
                self.clean += report.passed

    counter = Count()
    corpus = Path(__file__).resolve().parents[1] / "spec" / "test_corpus.py"
    pytest.main(["-q", "-p", "no:cacheprovider", str(corpus)], plugins=[counter])
    return counter.tried, counter.clean


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--fault-seeds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the trial folders")
    args = parser.parse_args()
    console = Console()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="bricksmith-reliability-"))
    try:
        console.print("crash trials on the local backend")
        local = run_crashes(folder, rng, emulated=False, console=console)
        console.print("crash trials on the emulator")
        emulated = run_crashes(folder, rng, emulated=True, console=console)
        console.print("applies with injected faults")
        rate = 0.2
        fault_ok, fault_dups = run_faults(folder, list(range(1, args.fault_seeds + 1)), rate,
                                          console)
        bad_tried, bad_clean = run_bad_inputs()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    table = Table(title="bricksmith reliability")
    for column in ("check", "tried", "passed", "duplicates", "problems"):
        table.add_column(column)
    for row in (crash_row("kill points, local backend", *local),
                crash_row("kill points, emulator", *emulated)):
        table.add_row(*map(str, row))
    table.add_row("bad inputs rejected cleanly", str(bad_tried), str(bad_clean), "-",
                  str(bad_tried - bad_clean))
    table.add_row(f"applies at {rate:.0%} injected faults", str(args.fault_seeds),
                  str(fault_ok), str(fault_dups), str(args.fault_seeds - fault_ok))
    console.print(table)
    failed = local[1] or emulated[1] or bad_tried != bad_clean or fault_ok != args.fault_seeds
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
