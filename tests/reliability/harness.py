"""Crash-safety harness: kill ``bricksmith apply`` (SIGKILL) at step boundaries and inside
steps, re-apply until done, and check that the end state equals an uninterrupted apply with
every side effect done once.

Used by tests/reliability/test_crash.py (a sample) and ``python -m tests.reliability`` (all).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import git

from bricksmith.emulator import DEFAULT_CLUSTER_ID

REPO = Path(__file__).resolve().parents[2]
# The order in which an apply with --parallelism 1 meets the seed's steps (the engine's
# lexicographical topological order).
SEED_STEPS = (
    "notebook.deploy", "project.scaffold", "data.upload[0]", "project.params", "git.commit",
    "git.push", "workspace.repo", "run.baseline", "run.split-70",
)
REFERENCE = {"baseline": (120, 0.9333333333333333), "split-70": (105, 0.9555555555555556)}


@dataclass(frozen=True)
class KillPoint:
    event: str  # started | succeeded
    step: str
    delay: float = 0.0  # seconds after the event: > 0 lands inside the step

    def __str__(self) -> str:
        return f"{self.event}:{self.step}" + (f"+{self.delay:g}s" if self.delay else "")


def boundary_points(steps=SEED_STEPS) -> list[KillPoint]:
    """Every step boundary, in the order a --parallelism 1 apply meets them."""
    return [KillPoint(kind, step) for step in steps for kind in ("started", "succeeded")]


@dataclass
class Trial:
    points: list[KillPoint]
    killed: list[str] = field(default_factory=list)  # points that really killed an apply
    moved: list[str] = field(default_factory=list)  # in-step points whose step ended first
    applies: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> bool:
        return not self.problems


def run_apply(spec: Path, env: dict, point: KillPoint | None,
              parallelism: int) -> subprocess.CompletedProcess:
    if point is None:
        command = [sys.executable, "-m", "bricksmith.cli", "--no-color", "apply", str(spec),
                   "--parallelism", str(parallelism)]
    else:
        command = [sys.executable, "-m", "tests.reliability.killer", str(spec),
                   "--at", f"{point.event}:{point.step}", "--delay", str(point.delay),
                   "--parallelism", str(parallelism)]
    done = subprocess.run(command, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=600, check=False)
    return done


def run_trial(spec: Path, points: list[KillPoint], env: dict, *, parallelism: int = 1,
              max_applies: int = 60) -> Trial:
    """Apply with each kill point in turn (an apply that finishes first ends the chain), then
    re-apply until an apply succeeds."""
    trial = Trial(points)
    for point in points:
        done = run_apply(spec, env, point, parallelism)
        code = done.returncode
        trial.applies += 1
        if code == -signal.SIGKILL:
            trial.killed.append(str(point))
            if "moved:" in done.stderr:
                trial.moved.append(str(point))
        elif code == 3:
            break  # finished before the point: nothing left to kill
        else:
            trial.problems.append(f"apply with kill point {point} ended {code}")
    while trial.applies < max_applies:
        trial.applies += 1
        if run_apply(spec, env, None, parallelism=4).returncode == 0:
            break
    else:
        trial.problems.append("no apply succeeded")
    return trial


def check_end_state(spec: Path, env: dict, *, root: Path, dbfs: Path, commits: int = 1,
                    submissions: int | None = None, emulator=None) -> list[str]:
    """Problems with the end state (empty when it equals an uninterrupted apply's)."""
    problems = []
    plan = subprocess.run([sys.executable, "-m", "bricksmith.cli", "plan", str(spec),
                           "--detailed-exitcode"], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)
    if plan.returncode != 0:
        problems.append(f"plan after recovery is not empty:\n{plan.stdout}{plan.stderr}")
    remote = git.Repo(spec.parent / "iris-databricks.git")
    found = len(list(remote.iter_commits("main")))
    if found != commits:
        problems.append(f"{found} commits on the remote, expected {commits}")
    leftovers = [str(p) for p in dbfs.rglob("*") if "bricksmith-tmp" in p.name]
    if leftovers:
        problems.append(f"temporary files left in DBFS: {leftovers[:3]}")
    tmpdir = env.get("TMPDIR")
    left = sorted(p.name for p in Path(tmpdir).iterdir()) if tmpdir else []
    if left:
        problems.append(f"temporary files left in TMPDIR: {left[:3]}")
    staging = sorted(p.name for p in spec.parent.glob(".iris-databricks-new-*"))
    if staging:
        problems.append(f"staging folders of killed scaffolds left: {staging[:3]}")
    if emulator is None:  # local runs: each notebook executed to its end once
        for name in REFERENCE:
            log = root / "logs" / "runs" / f"{name}.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            done = text.count("Pipeline execution completed")
            if done != 1:
                problems.append(f"run {name} executed {done} times to its end, expected once")
    with sqlite3.connect(root / "state.db") as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = dict(db.execute("SELECT key, outputs FROM steps WHERE key LIKE 'run.%'"))
    if integrity != "ok":
        problems.append(f"state integrity check: {integrity}")
    for name, (n_train, accuracy) in REFERENCE.items():
        metrics = json.loads(rows.get(f"run.{name}", "{}")).get("metrics", {})
        if (metrics.get("n_train"), metrics.get("accuracy")) != (n_train, accuracy):
            problems.append(f"run {name} has metrics {metrics}")
    if emulator is not None and submissions is not None:
        seen = emulator.calls["POST /api/2.2/jobs/runs/submit"]
        runs = len(emulator.runs)
        if runs != submissions:
            problems.append(f"{runs} job runs in the workspace ({seen} submits), "
                            f"expected {submissions}")
    return problems


LOCAL_TARGET = """target: local
targets:
  local:
    backend: local
    root: .bricksmith/local
"""


def seed_spec(folder: Path, emulator_url: str | None = None) -> Path:
    """specs/iris.yaml in ``folder``; with ``emulator_url``, its target is that emulator."""
    text = (REPO / "specs/iris.yaml").read_text()
    if emulator_url:
        text = text.replace(LOCAL_TARGET, f"""target: emulated
targets:
  emulated:
    backend: databricks
    host: {emulator_url}
    cluster_id: {DEFAULT_CLUSTER_ID}
    root: .bricksmith/emulated
""")
    spec = folder / "iris.yaml"
    spec.write_text(text)
    return spec


def base_env(tmpdir: Path | None = None) -> dict:
    """The applies' environment; ``tmpdir``: their TMPDIR (created), which
    ``check_end_state`` then finds empty."""
    env = dict(os.environ)
    env.update(DO_NOT_TRACK="1", KEDRO_DISABLE_TELEMETRY="1")
    if tmpdir is not None:
        tmpdir.mkdir(parents=True, exist_ok=True)
        env.update(TMPDIR=str(tmpdir), TEMP=str(tmpdir), TMP=str(tmpdir))
    return env
