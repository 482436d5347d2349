"""The seed on the local cluster kept between applies (issue 19.1, 19.4): applies reuse one
driver process, each run still computes what a fresh `kedro run` would (its params, its
project modules), a changed requirement set gets a new driver, and the idle timeout and
destroy stop it. No timing is asserted."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from bricksmith.backends.kernels import KernelProcess, wait_for
from bricksmith.backends.local_cluster import drivers
from tests.e2e.test_local_reattach import Target, counted_project  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e

BOUND_S = 300  # only keeps a broken test from hanging
NODES = "iris-databricks/src/iris_databricks/pipelines/iris/nodes.py"
ANCHOR = "def report_accuracy("


def outputs(spec: Path, run: str) -> dict:
    with sqlite3.connect(spec.parent / ".bricksmith/local/state.db") as db:
        row = db.execute("SELECT outputs FROM steps WHERE key = ?", (f"run.{run}",)).fetchone()
    return json.loads(row[0])


def check(spec: Path, baseline_fraction: float) -> int:
    """The seed's accuracies and effective params; returns the cluster both runs used."""
    accuracy = {0.8: 0.9333, 0.7: 0.9556}
    base, split = outputs(spec, "baseline"), outputs(spec, "split-70")
    assert round(base["metrics"]["accuracy"], 4) == accuracy[baseline_fraction]
    assert base["effective_params"]["train_fraction"] == baseline_fraction
    assert round(split["metrics"]["accuracy"], 4) == 0.9556
    assert split["effective_params"]["train_fraction"] == 0.7
    assert base["_cluster_pid"] == split["_cluster_pid"]
    return base["_cluster_pid"]


def mark_module(spec: Path, marker: str) -> None:
    """Make the project's report_accuracy node print ``marker`` (an edit of the project)."""
    nodes = spec.parent / NODES
    text = nodes.read_text()
    if "BRICKSMITH-MARK" in text:
        start = text.index("    print('BRICKSMITH-MARK")
        text = text[:start] + text[text.index("\n", start) + 1:]
    head, tail = text.split(ANCHOR, 1)
    body_start = tail.index('"""', tail.index('"""') + 3) + 4  # after the docstring
    text = head + ANCHOR + tail[:body_start] + f"    print('BRICKSMITH-MARK {marker}')\n" + \
        tail[body_start:]
    nodes.write_text(text)


def marks(spec: Path, run: str) -> list[str]:
    log = (spec.parent / f".bricksmith/local/logs/runs/{run}.log").read_text()
    return [line.split()[-1] for line in log.splitlines() if "BRICKSMITH-MARK" in line
            and "print(" not in line]


def test_applies_reuse_one_cluster_and_each_run_starts_clean(cli, seed):
    assert cli("apply", seed).code == 0
    cluster = check(seed, 0.8)
    assert KernelProcess.of(cluster).alive()

    # a params change and an edit of the project's module: the same cluster, the new values
    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    mark_module(seed, "one")
    done = cli("apply", seed)
    assert done.code == 0, done.out + done.err
    assert check(seed, 0.7) == cluster
    assert marks(seed, "baseline")[-1:] == ["one"]

    seed.write_text(seed.read_text().replace("train_fraction: 0.7\n", "train_fraction: 0.8\n", 1))
    mark_module(seed, "two")  # edited again: no stale import of the first edit
    done = cli("apply", seed, "-p", "1")
    assert done.code == 0, done.out + done.err
    assert check(seed, 0.8) == cluster
    assert marks(seed, "baseline")[-1:] == marks(seed, "split-70")[-1:] == ["two"]

    # a changed requirement set: a new cluster, the old one stops
    requirements = seed.parent / "iris-databricks/requirements.txt"
    requirements.write_text(requirements.read_text() + "# a changed requirement set\n")
    done = cli("apply", seed)
    assert done.code == 0, done.out + done.err
    new = check(seed, 0.8)
    assert new != cluster
    assert wait_for(KernelProcess.of(cluster), time.monotonic() + BOUND_S)
    root = seed.parent / ".bricksmith/local"
    assert [driver.pid for _, driver in drivers(root)] == [new]

    # destroy stops it and leaves no process
    process = KernelProcess.of(new)
    done = cli("destroy", seed, "--yes")
    assert done.code == 0, done.out + done.err
    assert f"first stops the local cluster kept between applies: pid {new}" in done.out
    assert not process.alive() and not root.exists()


def test_the_idle_timeout_stops_the_cluster(cli, seed):
    seed.write_text(seed.read_text().replace("    root: .bricksmith/local\n",
                                             "    root: .bricksmith/local\n"
                                             "    cluster_idle_minutes: 0.01\n"))
    assert cli("apply", seed).code == 0
    cluster = check(seed, 0.8)
    assert wait_for(KernelProcess.of(cluster), time.monotonic() + BOUND_S)
    assert drivers(seed.parent / ".bricksmith/local") == []


def test_no_cluster_kept_with_an_idle_time_of_zero(cli, seed):
    seed.write_text(seed.read_text().replace("    root: .bricksmith/local\n",
                                             "    root: .bricksmith/local\n"
                                             "    cluster_idle_minutes: 0\n"))
    assert cli("apply", seed).code == 0
    assert "_cluster_pid" not in outputs(seed, "baseline")
    assert round(outputs(seed, "baseline")["metrics"]["accuracy"], 4) == 0.9333
    assert drivers(seed.parent / ".bricksmith/local") == []


def test_a_killed_apply_never_runs_a_run_twice_on_the_cluster(tmp_path, counted_project):  # noqa: F811
    target = Target(tmp_path, counted_project)
    kernel = target.kill_inside_the_pipeline()
    forked = json.loads((target.root / "cluster/baseline/kernel.json").read_text())
    assert forked["pid"] == kernel.pid  # forked by the cluster, which outlived the apply
    assert [driver.pid for _, driver in drivers(target.root)] == [forked["driver"]]
    target.gate.touch()
    text = target.apply()
    assert "re-attaching" in text or "adopted the result" in text
    assert target.count() == 1 and target.completions() == 1
    target.check_done()
    # the next apply runs on the same cluster, once
    target.spec.write_text(target.spec.read_text().replace("train_fraction: 0.8",
                                                           "train_fraction: 0.7"))
    target.apply()
    assert target.count() == 2 and target.completions() == 2
    assert target.recorded()["_cluster_pid"] == forked["driver"]
    target.check_done(train_fraction=0.7)
