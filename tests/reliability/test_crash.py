"""A sample of the crash harness (the whole set runs with ``python -m tests.reliability``):
SIGKILL an apply at step boundaries and inside steps, re-apply, and find the end state of an
uninterrupted apply with every side effect done once."""

from __future__ import annotations

from tests.reliability.harness import (
    KillPoint,
    base_env,
    check_end_state,
    run_trial,
    seed_spec,
)

# An in-step point (with a delay) whose step ends first kills at the step's end, so no point
# may follow one on the same step: the step would be done and the point never reached.
LOCAL_SAMPLE = [
    KillPoint("started", "project.scaffold", 1.0),  # inside `kedro new`
    KillPoint("succeeded", "git.commit"),  # committed, not yet pushed
    KillPoint("started", "git.push"),
    KillPoint("succeeded", "run.baseline"),
    KillPoint("started", "run.split-70", 1.5),  # inside the notebook run
]
EMULATOR_SAMPLE = [
    KillPoint("started", "data.upload[0]"),
    KillPoint("succeeded", "workspace.repo"),
    KillPoint("started", "run.baseline", 2.0),  # the job run is submitted and waited on
]


def test_killed_applies_recover_on_the_local_backend(tmp_path):
    spec = seed_spec(tmp_path)
    env = base_env(tmp_path / "tmp")
    trial = run_trial(spec, LOCAL_SAMPLE, env)
    assert trial.killed == [str(p) for p in LOCAL_SAMPLE], trial.problems
    root = tmp_path / ".bricksmith/local"
    assert check_end_state(spec, env, root=root, dbfs=root / "dbfs") == []
    assert trial.recovered, trial.problems


def test_killed_applies_recover_on_the_emulator(tmp_path, emulator):
    emulator.jobs.run_delay_s = 3.0
    spec = seed_spec(tmp_path, emulator.url)
    env = {**base_env(), "DATABRICKS_TOKEN": emulator.token}
    trial = run_trial(spec, EMULATOR_SAMPLE, env)
    assert trial.killed == [str(p) for p in EMULATOR_SAMPLE], trial.problems
    problems = check_end_state(spec, env, root=tmp_path / ".bricksmith/emulated",
                               dbfs=emulator.root / "dbfs", submissions=2, emulator=emulator)
    assert problems == []
    assert trial.recovered, trial.problems


def test_boundary_points_follow_the_engines_order():
    import networkx as nx

    from bricksmith import api
    from tests.reliability.harness import REPO, SEED_STEPS, boundary_points

    graph = api.load(REPO / "specs/iris.yaml").graph
    assert graph.order == SEED_STEPS
    assert tuple(nx.lexicographical_topological_sort(graph.to_networkx())) == SEED_STEPS
    assert len(boundary_points()) == 18
