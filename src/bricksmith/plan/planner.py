"""The planner: a pure function of (graph, saved state, what check() saw).

Per step it decides an action and the reasons for it:

- ``create``  never applied to this target;
- ``resume``  the last attempt failed or was interrupted;
- ``update``  its inputs changed (reasons list old → new), an upstream step will run, or what
  it made has drifted or disappeared (reasons from ``check()``);
- ``noop``    nothing to do;
- ``remove``  a step the state knows that the spec no longer has (a run taken out of ``runs``):
  apply forgets its record; what it made stays (``bricksmith destroy`` removes everything).

The planner does no I/O of its own; the ``check`` callable it is given does the reading, and is
called only for steps that would otherwise be ``noop``.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping

from bricksmith.engine.status import FAILED, RUNNING, SUCCEEDED
from bricksmith.plan.fingerprint import Fingerprints, differences, material

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a replayed plan's cost)
if TYPE_CHECKING:
    from bricksmith.engine.state import StepRecord
    from bricksmith.plan.graph import StepGraph

CREATE, UPDATE, RESUME, NOOP, REMOVE = "create", "update", "resume", "noop", "remove"
ACTIONS = (CREATE, UPDATE, RESUME, NOOP, REMOVE)
REMOVED_REASON = "no longer in the spec: apply forgets its record; what it made stays"


# Plain classes, not dataclasses: a replayed plan (bricksmith.plan.memo) builds one, and
# importing dataclasses costs more than the rest of that replay.
class Action(namedtuple("_ActionFields", "step action reasons", defaults=((),))):
    """What apply would do with one step (``action``) and why (``reasons``)."""

    __slots__ = ()

    def to_json(self) -> dict:
        return {"step": self.step, "action": self.action, "reasons": list(self.reasons)}


class Plan:
    """An action per step, in the graph's order, and how many of each."""

    def __init__(self, actions: tuple[Action, ...], summary: dict[str, int] | None = None) -> None:
        self.actions = tuple(actions)
        self.summary = dict(summary or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and (self.actions, self.summary) == (
            other.actions, other.summary)

    def __repr__(self) -> str:
        return f"Plan({self.summary_line()!r})"

    @classmethod
    def of(cls, actions) -> Plan:
        """The plan of these actions, counted."""
        actions = tuple(actions)
        summary = {name: 0 for name in ACTIONS}
        for action in actions:
            summary[action.action] += 1
        return cls(actions=actions, summary=summary)

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.action != NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> dict:
        return {"actions": [a.to_json() for a in self.actions], "summary": dict(self.summary)}

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(a.step for a in self.actions if a.action == REMOVE)

    def summary_line(self) -> str:
        s = self.summary
        removing = f", {s[REMOVE]} to remove" if s.get(REMOVE) else ""
        return (
            f"Plan: {s[CREATE]} to create, {s[UPDATE]} to update, {s[RESUME]} to resume"
            f"{removing}, {s[NOOP]} unchanged."
        )


def make_plan(
    graph: StepGraph,
    records: Mapping[str, StepRecord],
    check: Callable[[str, StepRecord], list[str]],
) -> Plan:
    """Plan every step of ``graph`` against the saved ``records``."""
    actions: dict[str, Action] = {}
    fingerprints = Fingerprints(lambda key: records[key].outputs)
    for key in graph.order:
        step = graph.step(key)
        record = records.get(key)
        actions[key] = _decide(key, step, graph, record, records, actions, check, fingerprints)
    for key in sorted(set(records) - set(graph.steps)):
        actions[key] = Action(key, REMOVE, (REMOVED_REASON,))
    return Plan.of(actions.values())


def _decide(key, step, graph, record, records, decided, check, fingerprints) -> Action:
    if record is None:
        return Action(key, CREATE, ("never applied to this target",))
    if record.status == FAILED:
        return Action(key, RESUME, (f"last attempt failed: {_first_line(record.error)}",))
    if record.status == RUNNING:
        return Action(key, RESUME, ("last attempt was interrupted",))
    if record.status != SUCCEEDED:
        return Action(key, CREATE, ("never completed",))

    deps = sorted(graph.deps[key])
    moving = [d for d in deps if decided[d].action != NOOP]
    inputs = step.inputs()
    recorded = [d for d in deps if d in records]
    changed = fingerprints.of(inputs, recorded) != record.fingerprint
    if not moving and not changed:
        drift = check(key, record)
        return Action(key, UPDATE, tuple(drift)) if drift else Action(key, NOOP)
    snapshot = material(inputs, {d: records[d].outputs for d in recorded})
    reasons = step.annotate(
        differences(record.inputs.get("inputs", {}), snapshot["inputs"]), record.outputs)
    if moving:
        reasons += [f"upstream {d} will {decided[d].action}" for d in moving]
        return Action(key, UPDATE, tuple(reasons))
    reasons += [  # the fingerprint changed
        f"upstream {line}"
        for line in differences(record.inputs.get("upstream", {}), snapshot["upstream"])
    ]
    return Action(key, UPDATE, tuple(reasons or ["inputs changed"]))


def _first_line(text: str | None) -> str:
    return (text or "unknown error").strip().splitlines()[0][:200] if text else "unknown error"
