import pytest

from bricksmith.engine.executor import execute
from bricksmith.engine.state import StateStore
from bricksmith.errors import ApplyFailed
from bricksmith.statuses import FAILED, SUCCEEDED
from tests.engine.fakes import FakeStep, context_factory, graph_of


def diamond(log=None):
    a = FakeStep("a", log=log)
    b = FakeStep("b", ["a"], sleep=0.3, log=log)
    c = FakeStep("c", ["a"], sleep=0.3, log=log)
    d = FakeStep("d", ["b", "c"], log=log)
    return a, b, c, d


def test_runs_in_dependency_order_with_independent_steps_together(tmp_path):
    log = []
    steps = diamond(log)
    state = StateStore(tmp_path / "state.db")
    report = execute(graph_of(*steps), state, context_factory(tmp_path), parallelism=4)
    assert sorted(report.ran) == ["a", "b", "c", "d"]
    events = [(kind, key) for kind, key, _ in log]
    assert events.index(("end", "a")) < events.index(("start", "b"))
    assert events.index(("end", "b")) < events.index(("start", "d"))
    # b and c overlapped: each started before the other ended
    assert events.index(("start", "c")) < events.index(("end", "b"))
    assert report.outputs["d"]["upstream"] == ["b", "c"]
    assert {r.status for r in state.all().values()} == {SUCCEEDED}


def test_parallelism_one_runs_one_step_at_a_time(tmp_path):
    log = []
    steps = diamond(log)
    execute(graph_of(*steps), StateStore(tmp_path / "s.db"), context_factory(tmp_path),
            parallelism=1)
    kinds = [kind for kind, _, _ in log]
    assert kinds == ["start", "end"] * 4


def test_second_execute_skips_everything_then_reruns_only_what_changed(tmp_path):
    a, b, c, d = diamond()
    state = StateStore(tmp_path / "state.db")
    execute(graph_of(a, b, c, d), state, context_factory(tmp_path))
    assert all(r.checked_at is None for r in state.all().values())
    report = execute(graph_of(a, b, c, d), state, context_factory(tmp_path))
    assert report.ran == [] and sorted(report.skipped) == ["a", "b", "c", "d"]
    assert all(r.checked_at for r in state.all().values())  # found up to date, in one batch

    b.value = 2  # b's inputs change: b re-runs, and so does d (its upstream outputs changed)
    report = execute(graph_of(a, b, c, d), state, context_factory(tmp_path))
    assert sorted(report.ran) == ["b", "d"]
    assert (a.applied, b.applied, c.applied, d.applied) == (1, 2, 1, 2)


def test_drift_reported_by_check_makes_a_step_run_again(tmp_path):
    a, b, c, d = diamond()
    state = StateStore(tmp_path / "state.db")
    execute(graph_of(a, b, c, d), state, context_factory(tmp_path))
    c.drift = ["file gone"]
    report = execute(graph_of(a, b, c, d), state, context_factory(tmp_path))
    assert report.ran == ["c"]  # c's outputs are the same, so d stays up to date


def test_failure_stops_scheduling_records_it_and_resumes_there(tmp_path):
    a, b, c, d = diamond()
    b.fail = True
    b.sleep = 0.0
    state = StateStore(tmp_path / "state.db")
    with pytest.raises(ApplyFailed) as err:
        execute(graph_of(a, b, c, d), state, context_factory(tmp_path))
    assert "step b failed: RuntimeError: b exploded" in err.value.message
    assert "resumes at b" in err.value.hint
    records = state.all()
    assert records["b"].status == FAILED and "exploded" in records["b"].error
    assert "d" not in records and d.applied == 0

    b.fail = False
    report = execute(graph_of(a, b, c, d), state, context_factory(tmp_path))
    assert sorted(report.ran) == ["b", "d"] and sorted(report.skipped) == ["a", "c"]
    assert a.applied == 1 and c.applied == 1


def test_running_steps_finish_after_a_failure(tmp_path):
    a = FakeStep("a", fail=True)
    slow = FakeStep("slow", sleep=0.3)
    after = FakeStep("after", ["slow"])
    state = StateStore(tmp_path / "state.db")
    with pytest.raises(ApplyFailed) as err:
        execute(graph_of(a, slow, after), state, context_factory(tmp_path))
    assert state.get("slow").status == SUCCEEDED
    assert "after" not in state.all()
    assert err.value.report.not_started == ["after"]


def test_a_step_past_its_timeout_fails_clearly_without_holding_the_apply(tmp_path):
    import time

    stuck = FakeStep("stuck", sleep=3.0)
    stuck.timeout_s = 0.3
    other = FakeStep("other")
    state = StateStore(tmp_path / "state.db")
    began = time.monotonic()
    with pytest.raises(ApplyFailed) as err:
        execute(graph_of(stuck, other), state, context_factory(tmp_path))
    assert time.monotonic() - began < 2.5  # did not wait for the stuck step
    assert "step stuck failed: timed out after 0.3s" in err.value.message
    assert state.get("stuck").status == FAILED and state.get("other").status == SUCCEEDED


def test_a_wide_graph_runs_every_step_once_in_order(tmp_path):
    steps = [FakeStep("root")] + [FakeStep(f"leaf{i:04d}", deps=["root"]) for i in range(1200)]
    steps.append(FakeStep("sink", deps=[s.key for s in steps[1:]]))
    state = StateStore(tmp_path / "state.db")
    report = execute(graph_of(*steps), state, context_factory(tmp_path), parallelism=8)
    assert report.ran[0] == "root" and report.ran[-1] == "sink" and len(report.ran) == 1202
    again = execute(graph_of(*steps), state, context_factory(tmp_path), parallelism=8)
    assert len(again.skipped) == 1202 and all(s.applied == 1 for s in steps)
    assert sum(1 for r in state.all().values() if r.checked_at) == 1202  # batches of 500
