"""``python -m tests.reliability``: the reliability report.

Attacks the seed workflow as users and their machines do — SIGKILL at random wall-clock
moments (to the apply's pid and to its whole process group, with ``-p 4`` and ``-p 1``, on the
local backend and on the emulator), SIGKILL inside ``destroy``, damaged states, answers lost on
every endpoint of the emulated workspace — and measures each trial (see
``tests/reliability/measure.py``); runs the plan/apply differential test with many seeds and the
bad-input corpus; prints one table. ``--quick`` runs one trial per attack (a few minutes);
the full mode ``--trials`` per attack. Exit 1 when any figure is a finding.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tests.reliability import attacks, measure


@dataclass
class Row:
    attack: str
    trials: int = 0
    hit: int = 0
    survived: int = 0
    duplicated: int = 0
    lost: int = 0
    leaked: int = 0
    leftovers: int = 0
    findings: list[str] = field(default_factory=list)

    def add(self, outcome: measure.Outcome, label: str) -> None:
        self.trials += 1
        self.hit += outcome.hit
        self.survived += outcome.survived
        self.duplicated += bool(outcome.duplicated)
        self.lost += bool(outcome.lost)
        self.leaked += bool(outcome.leaked)
        self.leftovers += bool(outcome.leftovers)
        self.findings += [f"{label}: {f}" for f in outcome.findings()]


def campaign(trials: int, rate: float, quick: bool) -> list[tuple[str, int, callable]]:
    """(row label, trials, trial function(work, rng, index))."""
    kills = [
        (f"kill {'group' if group else 'pid'}, {backend}, -p {p}", group, backend, p)
        for backend, p, group in (("local", 4, False), ("local", 1, False), ("local", 4, True),
                                  ("local", 1, True), ("emulator", 4, False),
                                  ("emulator", 1, True))
    ]
    plan = [(label, trials,
             lambda work, rng, i, g=group, b=backend, p=p: attacks.kill_apply(
                 work, rng, emulated=b == "emulator", parallelism=p, group=g))
            for label, group, backend, p in kills]
    plan += [(f"kill at engine events, {backend}, -p 1", trials,
              lambda work, rng, i, b=backend: attacks.kill_at_events(
                  work, rng, emulated=b == "emulator"))
             for backend in ("local", "emulator")]
    plan.append(("kill inside destroy, local", trials,
                 lambda work, rng, i: attacks.kill_destroy(work, rng, emulated=False)))
    plan.append(("kill inside destroy, emulator", max(1, trials // 2),
                 lambda work, rng, i: attacks.kill_destroy(work, rng, emulated=True)))
    kinds = len(attacks.DAMAGE)
    plan.append((f"state damage ({kinds} kinds), local", 3 if quick else max(kinds, trials),
                 lambda work, rng, i: attacks.damage_state(
                     work, rng, kind=(2, 5, 8)[i] if quick else i % kinds)))
    plan.append((f"lost answers, emulator, {rate:.0%}", trials,
                 lambda work, rng, i: attacks.lost_answers(work, rng, rate=rate)))
    plan.append((f"lost answers, emulator, {rate:.0%}, answers of every POST dropped", trials,
                 lambda work, rng, i: attacks.lost_answers(work, rng, rate=rate,
                                                           every_post=True)))
    return plan


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
    pytest.main(["-qq", "-p", "no:cacheprovider", str(corpus)], plugins=[counter])
    return counter.tried, counter.clean


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability")
    parser.add_argument("--quick", action="store_true", help="one trial per attack")
    parser.add_argument("--trials", type=int, default=5, help="trials per attack (full mode)")
    parser.add_argument("--diff-seeds", type=int, default=None,
                        help="walks of the plan/apply differential test (quick 2, full 40)")
    parser.add_argument("--rate", type=float, default=0.2, help="fault rate of lost answers")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", help="run only the attacks whose label contains this")
    parser.add_argument("--keep", action="store_true", help="keep the trial folders")
    args = parser.parse_args()
    trials = 1 if args.quick else args.trials
    diff_seeds = args.diff_seeds if args.diff_seeds is not None else (2 if args.quick else 40)
    console = Console(width=140)
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="bricksmith-reliability-"))
    rows: list[Row] = []
    started = time.monotonic()
    diff = None
    walks = attacks.start_diff_walks(diff_seeds) if diff_seeds and not args.only else None
    try:
        with measure.watching_command_lines() as command_lines:
            for label, count, trial in campaign(trials, args.rate, args.quick):
                if args.only and args.only not in label:
                    continue
                row = Row(label)
                rows.append(row)
                for index in range(count):
                    work = attacks.fresh(folder, f"{len(rows):02d}-{index}")
                    outcome = trial(work, random.Random(rng.random()), index)
                    row.add(outcome, f"{label} #{index}")
                    console.print(f"  {label} #{index}: "
                                  f"{'survived' if outcome.survived else 'FAILED'}"
                                  f"{'' if outcome.hit else ' (not hit)'}; "
                                  f"{'; '.join(outcome.notes)}"
                                  + "".join(f"\n      {f}" for f in outcome.findings()[:6]))
                    if not args.keep:
                        shutil.rmtree(work, ignore_errors=True)
            leaked_lines = sorted(set(command_lines))
        if walks is not None:
            console.print(f"waiting for the plan/apply differential test ({diff_seeds} seeds)")
            diff = attacks.diff_walks(walks)
        bad = run_bad_inputs() if not args.only else None
    finally:
        if walks is not None and walks.poll() is None:  # interrupted: stop the walks too
            walks.kill()
            walks.wait()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=measure.REPO,
                            capture_output=True, text=True, check=False).stdout.strip()
    title = (f"bricksmith reliability, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC,"
             f" commit {commit}, {platform.system()} {platform.machine()}, "
             f"{__import__('os').cpu_count()} CPUs, {time.monotonic() - started:.0f} s"
             f"{' (quick)' if args.quick else ''}")
    table = Table(title=title)
    for column in ("attack", "trials", "hit", "survived", "duplicated", "lost", "leaked",
                   "leftovers"):
        table.add_column(column, justify="left" if column == "attack" else "right")
    for row in rows:
        table.add_row(row.attack, *map(str, (row.trials, row.hit, row.survived, row.duplicated,
                                             row.lost, row.leaked, row.leftovers)))
    table.add_row("secret on a process command line (scanned throughout)", "-", "-", "-", "-",
                  "-", str(len(leaked_lines)), "-")
    if diff is not None:
        table.add_row(f"plan/apply differential: {diff['walks']} walks, "
                      f"{diff['walks'] * 6} edits, {diff['failed']} with a difference",
                      str(diff["walks"]), "-", str(diff["passed"]), "-", "-", "-", "-")
    if bad is not None:
        table.add_row("bad inputs rejected cleanly", str(bad[0]), "-", str(bad[1]), "-", "-",
                      "-", "-")
    console.print(table)
    findings = [f for row in rows for f in row.findings] + leaked_lines
    if diff is not None:
        findings += diff["differences"]
    if findings:
        console.print("findings:")
        for finding in findings:
            console.print(f"  {finding}", markup=False)
    failed = bool(findings) or (bad is not None and bad[0] != bad[1]) or (
        diff is not None and diff["failed"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
