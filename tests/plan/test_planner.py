from bricksmith.engine.executor import execute
from bricksmith.engine.state import StateStore
from bricksmith.plan.planner import make_plan
from tests.engine.fakes import FakeStep, context_factory, graph_of


def no_drift(key, record):
    return []


def chain():
    return FakeStep("a"), FakeStep("b", ["a"]), FakeStep("c", ["b"]), FakeStep("x")


def test_everything_is_created_from_an_empty_state():
    plan = make_plan(graph_of(*chain()), {}, no_drift)
    assert [(a.step, a.action) for a in plan.actions] == [
        ("a", "create"), ("b", "create"), ("c", "create"), ("x", "create")
    ]
    assert plan.summary == {"create": 4, "update": 0, "resume": 0, "noop": 0, "remove": 0}
    assert plan.summary_line() == "Plan: 4 to create, 0 to update, 0 to resume, 0 unchanged."


def test_after_apply_nothing_to_do_and_a_change_propagates_with_reasons(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    assert not make_plan(graph_of(*steps), state.all(), no_drift).has_changes

    steps[0].value = 5
    plan = make_plan(graph_of(*steps), state.all(), no_drift)
    actions = {a.step: a for a in plan.actions}
    assert actions["a"].action == "update"
    assert actions["a"].reasons == ("value: 1 → 5",)
    assert actions["b"].reasons == ("upstream a will update",)
    assert actions["c"].reasons == ("upstream b will update",)
    assert actions["x"].action == "noop"


def test_drift_is_an_update_with_check_reasons_and_check_only_asked_when_needed(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    asked = []

    def check(key, record):
        asked.append(key)
        return ["file gone"] if key == "b" else []

    plan = make_plan(graph_of(*steps), state.all(), check)
    actions = {a.step: a for a in plan.actions}
    assert actions["b"].action == "update" and actions["b"].reasons == ("file gone",)
    assert not actions["b"].conditional
    # repairing b may give the outputs it had: c runs only if they change, and its own
    # drift is looked at now, as apply would when b's outputs come out the same
    assert actions["c"].reasons == ("upstream b will update",
                                    "runs only if that step's outputs change")
    assert actions["c"].conditional and "c" in asked
    assert [a.step for a in plan.certain] == ["b"]
    assert "(1 only if an upstream step's outputs change)" in plan.summary_line()


def test_new_inputs_make_downstream_updates_certain_a_lost_record_does_not(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    records = state.all()
    steps[0].value = 5
    plan = make_plan(graph_of(*steps), records, no_drift)
    assert not any(a.conditional for a in plan.actions)
    steps[0].value = 1
    del records["a"]  # created again: its outputs are known once it has run
    plan = make_plan(graph_of(*steps), records, no_drift)
    actions = {a.step: a for a in plan.actions}
    assert actions["a"].action == "create"
    assert actions["b"].conditional and actions["c"].conditional


def test_failed_and_interrupted_steps_resume(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    state.mark_failed("b", "exit 3: the remote hung up")
    state.mark_running("x", "fp", {})
    plan = make_plan(graph_of(*steps), state.all(), no_drift)
    actions = {a.step: a for a in plan.actions}
    assert actions["b"].action == "resume"
    assert actions["b"].reasons == ("last attempt failed: exit 3: the remote hung up",)
    assert actions["x"].reasons == ("last attempt was interrupted",)
    assert actions["c"].action == "update"
    assert plan.to_json()["summary"] == {"create": 0, "update": 1, "resume": 2, "noop": 1,
                                             "remove": 0}


def test_a_step_dropped_from_the_spec_is_planned_as_removed(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    plan = make_plan(graph_of(*steps[:3]), state.all(), no_drift)  # "x" left the spec
    assert [(a.step, a.action) for a in plan.changes] == [("x", "remove")]
    assert "no longer in the spec" in plan.changes[0].reasons[0]
    assert plan.removed == ("x",)
    assert plan.summary_line() == (
        "Plan: 0 to create, 0 to update, 0 to resume, 1 to remove, 3 unchanged."
    )
    state.forget(["x"])
    assert set(state.all()) == {"a", "b", "c"}
    assert not make_plan(graph_of(*steps[:3]), state.all(), no_drift).has_changes


def test_a_failure_is_said_to_be_old_once_its_inputs_changed(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    state.mark_running("b", state.get("b").fingerprint, state.get("b").inputs)
    state.mark_failed("b", "GITHUB_TOKEN is not set")
    steps[1].value = 7  # the user changed the spec since that failure
    actions = {a.step: a for a in make_plan(graph_of(*steps), state.all(), no_drift).actions}
    assert actions["b"].action == "resume"
    assert actions["b"].reasons == (
        "value: 1 → 7",
        "the last attempt, with the earlier inputs, failed: GITHUB_TOKEN is not set")
    steps[0].value = 2  # and an upstream step: recomputed again, never the first message
    actions = {a.step: a for a in make_plan(graph_of(*steps), state.all(), no_drift).actions}
    assert actions["b"].reasons[-2:] == (
        "upstream a will update",
        "the last attempt, with the earlier inputs, failed: GITHUB_TOKEN is not set")


def test_a_replaced_step_runs_and_what_depends_on_it_only_if_its_outputs_change(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    plan = make_plan(graph_of(*steps), state.all(), no_drift, replace=frozenset({"b"}))
    actions = {a.step: a for a in plan.actions}
    assert (actions["b"].action, actions["b"].reasons) == ("replace", ("replaced on request",))
    assert actions["c"].conditional and actions["c"].action == "update"
    assert actions["a"].action == actions["x"].action == "noop"
    assert plan.replaced == ("b",) and plan.summary["replace"] == 1
    assert plan.summary_line() == ("Plan: 0 to create, 1 to update (1 only if an upstream "
                                   "step's outputs change), 0 to resume, 1 to replace, "
                                   "2 unchanged.")
    # the executor agrees: b runs again (same outputs), c is found up to date
    before = {k: r.attempt for k, r in state.all().items()}
    report = execute(graph_of(*steps), state, context_factory(tmp_path),
                     replace=frozenset({"b"}))
    assert report.ran == ["b"] and steps[1].applied == 2 and steps[2].applied == 1
    assert {k: r.attempt for k, r in state.all().items()} == {**before, "b": before["b"] + 1}

    steps[0].value = 3  # a step that runs anyway says it was asked for too
    actions = {a.step: a for a in make_plan(graph_of(*steps), state.all(), no_drift,
                                            replace=frozenset({"a"})).actions}
    assert actions["a"].action == "update"
    assert actions["a"].reasons == ("value: 1 → 3", "replaced on request")


def test_a_partial_plan_removes_nothing(tmp_path):
    steps = chain()
    state = StateStore(tmp_path / "s.db")
    execute(graph_of(*steps), state, context_factory(tmp_path))
    part = graph_of(*steps).subgraph({"b"})
    assert part.order == ("a", "b")
    plan = make_plan(part, state.all(), no_drift, partial=True)
    assert [(a.step, a.action) for a in plan.actions] == [("a", "noop"), ("b", "noop")]
