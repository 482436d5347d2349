"""The attacks of ``python -m tests.reliability``: each function runs one trial in a fresh
folder and returns an :class:`~tests.reliability.measure.Outcome`.

- ``kill_apply``: SIGKILL an apply (its pid, or its whole process group) at random wall-clock
  moments, once or twice, then apply until it succeeds;
- ``kill_destroy``: SIGKILL ``destroy`` at a random moment, then destroy again;
- ``damage_state``: damage the state in one of the ways bit rot, hand edits and a kill during
  the first apply do (``/work/shared/cases/adversarial/state_content_corruption_tracebacks.sh``,
  ``kill_first_apply_bricks_state.sh``), run every command, follow the hint, converge;
- ``lost_answers``: apply against the emulator while its gateway fails requests before they
  are processed (429/503/500/502/504, dropped connections) and loses the answers of requests
  it processed (502/504 after processing, a dropped ``runs/submit`` answer), on every endpoint.

After every trial: convergence (a full plan has nothing to do), the runs' metrics, DBFS byte
for byte against the project's data, notebook executions / job submissions / commits counted,
the user's project whole, leftovers, and the secrets in every file, output and command line.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sqlite3
from pathlib import Path

from tests.reliability import measure
from tests.reliability.harness import seed_spec
from tests.reliability.measure import Outcome

# wall-clock length of an uninterrupted apply of the seed workflow on this machine (s), by
# (backend, parallelism): kills are drawn uniformly inside it
APPLY_S = {("local", 4): 7.0, ("local", 1): 11.0, ("emulator", 4): 9.0, ("emulator", 1): 12.0}


class Target:
    """One trial's folder, spec and (for the emulator) running workspace."""

    def __init__(self, work: Path, *, emulated: bool, faults=None) -> None:
        self.work = work
        self.emulator = None
        if emulated:
            from bricksmith.emulator import Emulator

            self.emulator = Emulator(work / "workspace", token=measure.SECRET, run_delay_s=1.0,
                                     cluster_start_s=0.2, **({"faults": faults} if faults else {}))
            self.emulator.start()
        self.spec = seed_spec(work, self.emulator.url if self.emulator else None)
        self.env = measure.env_for(work, measure.SECRET if self.emulator else None)
        self.outputs: list[str] = []

    @property
    def root(self) -> Path:
        return self.work / ".bricksmith" / ("emulated" if self.emulator else "local")

    @property
    def dbfs(self) -> Path:
        return (self.emulator.root if self.emulator else self.root) / "dbfs"

    @property
    def project(self) -> Path:
        return self.work / "iris-databricks"

    @property
    def remote(self) -> Path:
        return self.work / "iris-databricks.git"

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def check(self, outcome: Outcome, *, executions_before: dict | None = None,
              runs: bool = True, submitted_before: int = 0, folders_before: int = 0) -> Outcome:
        """The end-state checks every attack shares (after it converged or gave up)."""
        if runs:
            outcome.converged += measure.run_metrics(self.root)
        outcome.converged += measure.tracebacks(self.outputs)
        outcome.duplicated += measure.duplicates(root=self.root, remote=self.remote,
                                                 emulator=self.emulator,
                                                 executions_before=executions_before,
                                                 submitted_before=submitted_before,
                                                 folders_before=folders_before)
        dbfs = measure.same_tree(self.project / "data",
                                 self.dbfs / "FileStore/iris-databricks/data")
        if outcome.converged:  # an apply that never succeeded has not uploaded the change
            outcome.notes += dbfs
        else:
            outcome.lost += dbfs
        outcome.lost += measure.project_intact(self.project, self.remote)
        measure.wait_for_processes(self.work, timeout=5)
        outcome.leftovers += measure.leftovers(self.work)
        outcome.leaked += measure.secrets_in_files(self.work, self.outputs)
        return outcome


def kill_apply(work: Path, rng: random.Random, *, emulated: bool, parallelism: int,
               group: bool, kills: int = 2) -> Outcome:
    target = Target(work, emulated=emulated)
    outcome = Outcome()
    try:
        length = APPLY_S[("emulator" if emulated else "local", parallelism)]
        hits = 0
        for _ in range(kills):
            delay = round(rng.uniform(0.3, length), 2)
            args = ["apply", str(target.spec), "--parallelism", str(parallelism)]
            if measure.killed_at(target.env, args, delay, group=group, outputs=target.outputs):
                hits += 1
                outcome.notes.append(f"killed at {delay}s")
            else:
                break  # the apply finished first: nothing left to kill
        outcome.hit = hits > 0
        measure.wait_for_processes(work)  # an orphan kernel finishes (or was killed)
        outcome.converged += measure.converge(target.env, target.spec, target.outputs,
                                              parallelism=parallelism)
        return target.check(outcome)
    finally:
        target.stop()


def kill_at_events(work: Path, rng: random.Random, *, emulated: bool) -> Outcome:
    """SIGKILL at engine events (``tests/reliability/killer.py``): three step boundaries or
    in-step moments, on three different steps in the order a ``-p 1`` apply meets them."""
    from tests.reliability.harness import SEED_STEPS, KillPoint, run_trial

    target = Target(work, emulated=emulated)
    outcome = Outcome()
    try:
        steps = sorted(rng.sample(SEED_STEPS, 3), key=SEED_STEPS.index)
        points = [KillPoint(rng.choice(("started", "succeeded")), step,
                            round(rng.uniform(0.05, 1.5), 2) if rng.random() < 0.3 else 0.0)
                  for step in steps]
        points = [p if p.event == "started" else KillPoint(p.event, p.step) for p in points]
        trial = run_trial(target.spec, points, target.env, max_applies=4)
        outcome.hit = bool(trial.killed)
        outcome.notes.append("killed at " + ", ".join(trial.killed))
        outcome.converged += trial.problems
        measure.wait_for_processes(work)
        outcome.converged += measure.converge(target.env, target.spec, target.outputs)
        return target.check(outcome)
    finally:
        target.stop()


def kill_destroy(work: Path, rng: random.Random, *, emulated: bool) -> Outcome:
    """Destroy killed at a random moment, then destroy again: everything bricksmith made is
    gone, everything the user put in the target root and the project stays, and a new apply
    converges."""
    target = Target(work, emulated=emulated)
    outcome = Outcome()
    try:
        # the user's own files, in folders of the target root before bricksmith used it
        # (destroy_removes_user_logs_folder.sh) and next to the spec
        user_files = [target.root / "logs" / "my-notes.txt", target.root / "cluster" / "mine.txt",
                      target.work / "keep-me.txt"]
        for path in user_files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("the user's\n")
        outcome.converged += measure.converge(target.env, target.spec, target.outputs)
        delay = round(rng.uniform(0.2, 1.6), 2)
        outcome.hit = measure.killed_at(target.env, ["destroy", str(target.spec), "--yes"],
                                        delay, group=rng.random() < 0.5, outputs=target.outputs)
        outcome.notes.append(f"destroy killed at {delay}s" if outcome.hit else "destroy ended")
        again = measure.bricksmith(target.env, "destroy", str(target.spec), "--yes")
        target.outputs.append(again.stdout + again.stderr)
        if again.returncode != 0:
            outcome.converged.append("destroy after a killed destroy: "
                                     + measure.tail(again.stdout + again.stderr))
        outcome.lost += [f"user file {p.relative_to(work)} removed by destroy"
                         for p in user_files if not p.is_file()]
        left = [p for p in (target.dbfs / "FileStore/iris-databricks/data",
                            target.root / "state.db") if p.exists()]
        outcome.converged += [f"destroy left {p.relative_to(work)}" for p in left]
        if target.emulator is not None:
            repos = target.emulator.root / "Workspace"
            if any(p.name == "iris-databricks" for p in repos.rglob("iris-databricks")):
                outcome.converged.append("destroy left the Git folder")
        before = measure.local_executions(target.root)
        emulator = target.emulator
        submitted = len(emulator.runs) if emulator else 0
        folders = emulator.calls["POST /api/2.0/repos"] if emulator else 0
        outcome.converged += measure.converge(target.env, target.spec, target.outputs)
        return target.check(outcome, executions_before=before, submitted_before=submitted,
                            folders_before=folders)
    finally:
        target.stop()


# (name, how): SQL run on a converged state, or a file operation
DAMAGE = [
    ("bad JSON in outputs", "update steps set outputs='{not json' where key='data.upload[0]'"),
    ("outputs of the wrong shape", "update steps set outputs='[]' where key='workspace.repo'"),
    ("empty outputs", "update steps set outputs='{}' where key='run.baseline'"),
    ("non-numeric schema version", "update meta set value='abc' where key='schema_version'"),
    ("table dropped (checked)", "drop table checked"),
    ("table dropped (steps)", "drop table steps"),
    ("file truncated to half", "truncate"),
    ("file emptied", "empty"),
    ("first apply killed while creating the state", "first-apply"),
]
COMMANDS = (("plan",), ("status",), ("runs",), ("apply",))


def damage_state(work: Path, rng: random.Random, *, kind: int) -> Outcome:
    """One kind of damage on a converged target: every command answers without a traceback
    (a damaged state is named), and following its hint (``state restore``, else moving the
    state aside) converges without running a notebook twice."""
    name, how = DAMAGE[kind]
    target = Target(work, emulated=False)
    outcome = Outcome(notes=[name])
    state = target.root / "state.db"
    try:
        if how == "first-apply":
            delay = round(rng.uniform(0.25, 0.9), 3)
            outcome.hit = measure.killed_at(target.env, ["apply", str(target.spec)], delay,
                                            group=False, outputs=target.outputs)
            outcome.notes.append(f"killed at {delay}s")
            outcome.converged += measure.converge(target.env, target.spec, target.outputs)
            return target.check(outcome)
        outcome.converged += measure.converge(target.env, target.spec, target.outputs)
        measure.bricksmith(target.env, "apply", str(target.spec))  # the restore copy: whole
        before = measure.local_executions(target.root)
        if how in ("truncate", "empty"):
            with sqlite3.connect(state) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            data = state.read_bytes()
            state.write_bytes(data[: len(data) // 2] if how == "truncate" else b"")
        else:
            with sqlite3.connect(state) as db:
                db.execute(how)
        refused = False
        for command in COMMANDS:
            done = measure.bricksmith(target.env, *command, str(target.spec))
            target.outputs.append(done.stdout + done.stderr)
            refused |= done.returncode != 0
        if refused:  # the user follows the hint: restore the copy, else move the state aside
            done = measure.bricksmith(target.env, "state", "restore", str(target.spec))
            target.outputs.append(done.stdout + done.stderr)
            if done.returncode != 0:
                outcome.notes.append("no copy to restore: state moved aside")
                for path in target.root.glob("state.db*"):
                    path.rename(path.with_name(path.name + ".damaged"))
        outcome.converged += measure.converge(target.env, target.spec, target.outputs)
        return target.check(outcome, executions_before=before)
    finally:
        target.stop()


BIG = 2_500_000  # bytes: more than one 1 MiB DBFS block


# every POST the seed workflow's apply makes: a dropped connection after processing is retried
# by databricks-sdk itself, so each must be safe to repeat or checked (a DBFS block lands twice)
PROCESSED_THEN_DROPPED = (
    "POST /api/2.0/dbfs/create", "POST /api/2.0/dbfs/add-block", "POST /api/2.0/dbfs/close",
    "POST /api/2.0/dbfs/put", "POST /api/2.0/dbfs/mkdirs", "POST /api/2.0/dbfs/delete",
    "POST /api/2.0/dbfs/move", "POST /api/2.0/workspace/import",
    "POST /api/2.0/workspace/mkdirs", "POST /api/2.0/repos", "POST /api/2.1/clusters/start",
)


def lost_answers(work: Path, rng: random.Random, *, rate: float,
                 every_post: bool = False) -> Outcome:
    """Apply under faults on every endpoint, then change the data (a multi-block file added,
    one changed) and apply again under faults; DBFS must end byte for byte the sources.
    Before processing: 429/503/500/502/504 and dropped connections at ``rate``; after
    processing: 502/504 pages at ``rate / 2`` on any request, and dropped answers at ``rate``
    on ``runs/submit`` (``every_post``: on every POST the apply makes)."""
    from bricksmith.emulator import FaultPolicy

    seed = rng.randrange(1 << 30)
    faults = FaultPolicy(rate=rate, kinds=("429", "503", "drop", "500", "502", "504"),
                         retry_after_s=0, seed=seed, drop_after_rate=rate,
                         error_after_rate=rate / 2,
                         drop_after_on=PROCESSED_THEN_DROPPED if every_post else ())
    target = Target(work, emulated=True, faults=faults)
    outcome = Outcome(notes=[f"fault seed {seed}"])
    try:
        outcome.converged += _under_faults(target, outcome)
        emulator = target.emulator
        submitted, folders = len(emulator.runs), emulator.calls["POST /api/2.0/repos"]
        if submitted > 2:
            outcome.duplicated.append(f"{submitted} job runs submitted for 2 runs")
        if not outcome.converged:
            data = target.project / "data" / "01_raw"
            (data / "big.bin").write_bytes(random.Random(seed).randbytes(BIG))
            with open(data / "iris.csv", "a", encoding="utf-8") as handle:
                handle.write("")  # unchanged content, new mtime
            outcome.converged += _under_faults(target, outcome)
        outcome.notes.append(f"{target.emulator.faults_injected} faults injected")
        target.emulator.set_faults(FaultPolicy())
        # the changed data re-runs both runs: two more submissions, no new Git folder
        return target.check(outcome, submitted_before=submitted, folders_before=folders)
    finally:
        target.stop()


def _under_faults(target: Target, outcome: Outcome) -> list[str]:
    """Apply (at most 3 tries) under the target's faults; then a full plan, faults off, has
    nothing to do."""
    from bricksmith.emulator import FaultPolicy

    for attempt in range(1, 4):
        done = measure.bricksmith(target.env, "apply", str(target.spec))
        target.outputs.append(done.stdout + done.stderr)
        if done.returncode == 0:
            outcome.notes.append(f"converged at try {attempt}")
            break
    else:
        return [f"no apply succeeded in 3 tries under faults: {measure.tail(target.outputs[-1])}"]
    faults = target.emulator.gateway.injector.policy
    target.emulator.set_faults(FaultPolicy())
    plan = measure.bricksmith({**target.env, "BRICKSMITH_PLAN_MEMO": "0"}, "plan",
                              str(target.spec), "--detailed-exitcode")
    target.outputs.append(plan.stdout + plan.stderr)
    target.emulator.set_faults(faults)
    if plan.returncode != 0:
        return [f"plan after convergence not empty: {measure.tail(plan.stdout)}"]
    return []


def start_diff_walks(seeds: int):
    """Start the plan/apply differential test (tests/e2e/test_plan_apply_agree.py) with
    ``seeds`` walks per spec (a sixth of them for the spec with runs) in the background."""
    import subprocess
    import sys

    env = {**os.environ, "BRICKSMITH_DIFF_SEEDS": str(seeds), "DO_NOT_TRACK": "1",
           "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/e2e/test_plan_apply_agree.py", "-m", "e2e"],
                            cwd=measure.REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def diff_walks(process) -> dict:
    """The figures of a finished :func:`start_diff_walks`: walks, passed, failed, and the
    failing walks' names (each a difference between plan and apply)."""
    out, _ = process.communicate()
    counts = dict.fromkeys(("passed", "failed", "error"), 0)
    for number, word in re.findall(r"(\d+) (passed|failed|error)", "\n".join(
            out.splitlines()[-3:])):
        counts[word] = int(number)
    differences = [line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
    walks = counts["passed"] + counts["failed"] + counts["error"]
    return {"walks": walks, "passed": counts["passed"], "failed": walks - counts["passed"],
            "differences": differences}


def fresh(folder: Path, name: str) -> Path:
    work = folder / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


