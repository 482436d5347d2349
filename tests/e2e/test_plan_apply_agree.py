"""What plan shows is what apply does: a differential test over random edits.

Each seed is a random walk over an applied workflow: before every edit a full plan (nothing to
do) writes the plan memo; then one random edit — of the spec's params, project files, data
files, the emulated workspace and DBFS, the deployed notebook, or the state's records — and
three things must hold:

(a) a plan replayed from the memo, when the memo still answers, equals the full plan;
(b) the steps the next apply runs are the steps the full plan listed: all those it lists for
    certain, and of its conditional updates (``update if upstream outputs change``) only some;
(c) after that apply, a full plan has nothing to do (the walk converges).

``BRICKSMITH_DIFF_SEEDS`` sets the number of walks (default 25 for the spec without runs, a
sixth of it for the seed workflow with its two runs); ``python -m tests.reliability`` runs more.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bricksmith import api
from bricksmith.plan import memo

pytestmark = pytest.mark.e2e

SPECS = Path(__file__).resolve().parents[2] / "specs"
WALK = 6  # edits per seed
NO_MEMO = {**os.environ, "BRICKSMITH_PLAN_MEMO": "0"}


def seeds(default: int) -> int:
    return int(os.environ.get("BRICKSMITH_DIFF_SEEDS", default))


@dataclass
class Walk:
    spec: Path
    rng: random.Random

    @property
    def folder(self) -> Path:
        return self.spec.parent

    @property
    def project(self) -> Path:
        return self.folder / "iris-databricks"

    @property
    def root(self) -> Path:
        return self.folder / ".bricksmith" / "local"

    @property
    def workspace_repo(self) -> Path:
        return self.root / "Workspace" / "Repos" / "local-user" / "iris-databricks"

    @property
    def dbfs_data(self) -> Path:
        return self.root / "dbfs" / "FileStore" / "iris-databricks" / "data"

    def files(self, folder: Path, pattern: str = "*") -> list[Path]:
        return sorted(p for p in folder.rglob(pattern) if p.is_file() and ".git" not in p.parts)

    # -- the edits: each returns what it did --------------------------------------------------

    def spec_param(self) -> str:
        value = self.rng.choice([0.6, 0.65, 0.7, 0.75, 0.8, 0.85])
        text = self.spec.read_text()
        text = re.sub(r"(params:[^\n]*\n\s+train_fraction: )[0-9.]+", rf"\g<1>{value}", text,
                      count=1)
        self.spec.write_text(text)
        return f"project.params.train_fraction = {value}"

    def run_param(self) -> str:
        value = self.rng.choice([0.6, 0.7, 0.75])
        text = self.spec.read_text()
        if "params: {train_fraction:" not in text:
            return self.spec_param()
        text = re.sub(r"params: \{train_fraction: [0-9.]+\}",
                      f"params: {{train_fraction: {value}}}", text)
        self.spec.write_text(text)
        return f"run param train_fraction = {value}"

    def project_file(self) -> str:
        extra = self.files(self.project / "src", "extra_*.py")
        if extra and self.rng.random() < 0.4:
            self.rng.choice(extra).unlink()
            return "removed a project file"
        if extra and self.rng.random() < 0.5:
            with self.rng.choice(extra).open("a") as handle:
                handle.write(f"# changed {self.rng.random()}\n")
            return "changed a project file"
        package = next(p for p in (self.project / "src").iterdir() if p.is_dir())
        (package / f"extra_{self.rng.randrange(1000)}.py").write_text("X = 1\n")
        return "added a project file"

    def params_file(self) -> str:
        file = self.project / "conf" / "base" / "parameters.yml"
        text = file.read_text()
        value = self.rng.randrange(1, 9)
        file.write_text(re.sub(r"random_state: \d+", f"random_state: {value}", text))
        return f"random_state = {value} in the project's parameters.yml"

    def data_file(self) -> str:
        raw = self.project / "data" / "01_raw"
        extra = self.files(raw, "extra_*.csv")
        choice = self.rng.random()
        if extra and choice < 0.3:
            self.rng.choice(extra).unlink()
            return "removed a data file"
        if extra and choice < 0.6:
            file = self.rng.choice(extra)
            data = bytearray(file.read_bytes())
            data[0] = ord("a") if data[0] != ord("a") else ord("b")  # same size, new content
            file.write_bytes(bytes(data))
            return "changed a data file (same size)"
        (raw / f"extra_{self.rng.randrange(1000)}.csv").write_text("a,b\n1,2\n")
        return "added a data file"

    def dbfs(self) -> str:
        files = self.files(self.dbfs_data)
        if not files:
            return self.data_file()
        file = self.rng.choice(files)
        if self.rng.random() < 0.5:
            file.unlink()
            return f"removed {file.name} on DBFS"
        data = bytearray(file.read_bytes() or b"x")
        data[-1] = ord("#") if data[-1] != ord("#") else ord("%")
        file.write_bytes(bytes(data))
        return f"changed {file.name} on DBFS (same size)"

    def workspace(self) -> str:
        if self.rng.random() < 0.5:
            readme = self.workspace_repo / "README.md"
            with readme.open("a") as handle:
                handle.write("edited in the workspace\n")
            return "edited a tracked file in the workspace repo"
        local = self.workspace_repo / "conf" / "local"
        local.mkdir(parents=True, exist_ok=True)
        (local / "parameters.yml").write_text("train_fraction: 0.1\n")
        return "dropped conf/local/parameters.yml into the workspace repo"

    def notebook(self) -> str:
        notebooks = self.files(self.root / "Workspace" / "Users")
        if not notebooks:
            return self.workspace()
        with notebooks[0].open("a") as handle:
            handle.write("\n# edited in the workspace\n")
        return "edited the deployed notebook"

    def state(self) -> str:
        with sqlite3.connect(self.root / "state.db") as db:
            keys = [k for (k,) in db.execute("SELECT key FROM steps ORDER BY key")]
            key = self.rng.choice(keys)
            if self.rng.random() < 0.5:
                db.execute("DELETE FROM steps WHERE key = ?", (key,))
                return f"deleted the state record of {key}"
            db.execute("UPDATE steps SET status = 'failed', error = 'x' WHERE key = ?", (key,))
            return f"marked {key} failed in the state"

    def touch(self) -> str:
        files = [*self.files(self.project / "data"), self.spec,
                 self.project / "conf" / "base" / "parameters.yml"]
        file = self.rng.choice(files)
        file.write_bytes(file.read_bytes())  # same bytes, a new modification time
        return f"rewrote {file.name} with the same bytes"

    def nothing(self) -> str:
        return "nothing"

    EDITS = ("touch", "nothing", "spec_param", "run_param", "project_file", "params_file",
             "data_file", "dbfs", "workspace", "notebook", "state")


def full_plan(spec: Path):
    return api.load(spec, environ=NO_MEMO).plan()


def changes(plan) -> list[str]:
    return sorted(a.step for a in plan.changes if a.action != "remove")


def walk(spec: Path, seed: int, runs: bool) -> list[str]:
    """One random walk; returns what it did (for the failure message)."""
    rng = random.Random(seed)
    w = Walk(spec, rng)
    done = []
    report = api.load(spec, environ=NO_MEMO).apply()
    assert not report.failures
    edits = [e for e in Walk.EDITS if runs or e != "run_param"]
    for _ in range(WALK):
        remembered = api.load(spec).plan()  # the full path with the memo on: writes it
        assert not changes(remembered), (done, remembered.actions)
        done.append(getattr(w, rng.choice(edits))())
        full = full_plan(spec)
        replayed = memo.replay(spec, requested_target=None, variables={}, environ=os.environ)
        if replayed is not None:
            assert [(a[0], a[1], a[3]) for a in replayed.actions] == [
                (a.step, a.action, a.conditional) for a in full.actions
            ], f"memo replay differs from the full plan after {done}"
        # workspace tampering is repaired on purpose (a plain apply refuses it: issue 17)
        report = api.load(spec, environ=NO_MEMO).apply(discard_workspace_edits=True)
        assert not report.failures, (done, report.failures)
        ran, certain = set(report.ran), {a.step for a in full.certain}
        assert certain <= ran <= set(changes(full)), (
            f"apply ran {sorted(ran)}; the plan listed {changes(full)}, of them for certain "
            f"{sorted(certain)}, after {done}"
        )
        after = full_plan(spec)
        assert not changes(after), f"not converged after {done}: {after.actions}"
    return done


def _spec(tmp_path: Path, runs: bool) -> Path:
    spec = tmp_path / "iris.yaml"
    shutil.copy(SPECS / "iris.yaml", spec)
    if not runs:
        text = spec.read_text()
        spec.write_text(text[: text.index("\nruns:")] + "\n")
    return spec


@pytest.mark.parametrize("seed", range(seeds(25)))
def test_plan_equals_apply_without_runs(tmp_path, seed):
    walk(_spec(tmp_path, runs=False), seed, runs=False)


@pytest.mark.parametrize("seed", range(max(1, seeds(25) // 6)))
def test_plan_equals_apply_with_runs(tmp_path, seed):
    walk(_spec(tmp_path, runs=True), 1000 + seed, runs=True)


def partial_walk(spec: Path, seed: int) -> list[str]:
    """A random walk whose applies name part of the DAG (``--only``) and force steps again
    (``--replace``): the steps apply runs are those the plan with the same options listed
    (every replaced step among them), never a step it left out; a plain apply then
    converges."""
    rng = random.Random(seed)
    w = Walk(spec, rng)
    done = []
    assert not api.load(spec, environ=NO_MEMO).apply().failures
    keys = list(api.load(spec, environ=NO_MEMO).graph.order)
    for _ in range(WALK):
        done.append(getattr(w, rng.choice(Walk.EDITS))())
        workflow = api.load(spec, environ=NO_MEMO)
        only = tuple(rng.sample(["run.*", *keys], rng.randint(0, 2)))
        part = workflow.select(only).graph.order
        replace = tuple(rng.sample(list(part), rng.randint(0, 2)))
        done.append(f"--only {only} --replace {replace}")
        plan = workflow.plan(only=only, replace=replace)
        report = api.load(spec, environ=NO_MEMO).apply(
            only=only, replace=replace, discard_workspace_edits=True)
        assert not report.failures, (done, report.failures)
        ran, certain = set(report.ran), {a.step for a in plan.certain}
        assert certain <= ran <= set(changes(plan)), (
            f"apply ran {sorted(ran)}; the plan listed {changes(plan)}, of them for certain "
            f"{sorted(certain)}, after {done}")
        assert set(replace) <= ran and not ran & set(plan.left_out), done
        assert set(plan.left_out) == set(report.left_out), done
        assert not api.load(spec, environ=NO_MEMO).apply(discard_workspace_edits=True).failures
        assert not changes(full_plan(spec)), f"not converged after {done}"
    return done


@pytest.mark.parametrize("seed", range(max(1, seeds(25) // 12)))
def test_plan_equals_apply_with_only_and_replace(tmp_path, seed):
    partial_walk(_spec(tmp_path, runs=True), 2000 + seed)
