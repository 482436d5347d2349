"""Saved plans: their JSON, the state digest and what makes them stale."""

from __future__ import annotations

import pytest

from bricksmith.errors import UsageError
from bricksmith.plan.planner import Action, Plan
from bricksmith.plan.saved import SavedPlan, stale_reasons, state_digest
from bricksmith.records import StepRecord

PLAN = Plan(
    actions=(Action("a", "noop"), Action("b", "update", ("params.x: 1 → 2",))),
    summary={"create": 0, "update": 1, "resume": 0, "noop": 1},
)


def saved(plan=PLAN) -> SavedPlan:
    return SavedPlan("/w/spec.yaml", "ab" * 32, "local", {"v": "1"}, "cd" * 32, plan)


def test_a_saved_plan_survives_its_json():
    assert SavedPlan.from_json(saved().to_json(), "p.json") == saved()


@pytest.mark.parametrize(
    "data, words",
    [
        ({"version": 1}, "is not a saved plan"),
        ({"bricksmith_plan": 99}, "format 99"),
        ({"bricksmith_plan": 1, "spec": "x"}, "damaged saved plan"),
    ],
)
def test_what_is_not_a_saved_plan_is_refused_clearly(data, words):
    with pytest.raises(UsageError, match=words) as caught:
        SavedPlan.from_json(data, "p.json")
    assert "bricksmith plan SPEC --out FILE" in caught.value.hint


def record(**changes) -> StepRecord:
    fields = dict(key="a", fingerprint="f", status="succeeded", attempt=1,
                  finished_at="2026-01-01T00:00:00+00:00", checked_at=None)
    return StepRecord(**{**fields, **changes})


def test_the_state_digest_moves_when_a_step_ran_not_when_it_was_found_up_to_date():
    base = state_digest({"a": record()})
    assert state_digest({"a": record(checked_at="2026-02-02T00:00:00+00:00")}) == base
    assert state_digest({"a": record(attempt=2)}) != base
    assert state_digest({"a": record(status="running")}) != base
    assert state_digest({"a": record(), "b": record(key="b")}) != base
    assert state_digest({}) != base


def test_stale_reasons_name_each_step_that_would_now_do_otherwise():
    assert stale_reasons(PLAN, PLAN) == []
    now = Plan(actions=(Action("a", "update", ("drifted",)), Action("c", "create")), summary={})
    assert stale_reasons(PLAN, now) == [
        "a: planned noop, now update (drifted)",
        "b: no longer in the workflow",
        "c: a new step (create)",
    ]
