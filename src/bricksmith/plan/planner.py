"""The planner: a pure function of (graph, saved state, what check() saw).

Per step it decides an action and the reasons for it:

- ``create``  never applied to this target;
- ``resume``  the last attempt failed or was interrupted;
- ``update``  its inputs changed (reasons list old → new), an upstream step will run, or what
  it made has drifted or disappeared (reasons from ``check()``). An update whose only reason
  is an upstream step that will run without new inputs (created again, resumed, repaired
  after drift, or itself conditional) is *conditional*: apply runs it only if that upstream
  step's outputs come out different, which only running it tells;
- ``noop``    nothing to do;
- ``remove``  a step the state knows that the spec no longer has (a run taken out of ``runs``):
  apply forgets its record; what it made stays (``bricksmith destroy`` removes everything),
  except an upload's files, which apply removes first.

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
class Action(namedtuple("_ActionFields", "step action reasons conditional",
                        defaults=((), False))):
    """What apply would do with one step (``action``) and why (``reasons``); ``conditional``:
    an update apply makes only if an upstream step's outputs change."""

    __slots__ = ()

    def to_json(self) -> dict:
        shown = {"step": self.step, "action": self.action, "reasons": list(self.reasons)}
        if self.conditional:
            shown["conditional"] = True
        return shown

    @classmethod
    def from_json(cls, data: dict) -> Action:
        return cls(data["step"], data["action"], tuple(data["reasons"]),
                   bool(data.get("conditional", False)))


class Plan:
    """An action per step, in the graph's order, and how many of each; ``notes``: what the
    user should know that is no action (runs that take turns, data no upload provides),
    shown under the actions and as ``"warnings"`` in JSON; ``edits``: the files edited in the
    workspace Git folder (``{"path", "change", "diff", "base"}``, see
    :mod:`bricksmith.backends.workspace_edits`), ``"workspace_edits"`` in JSON."""

    def __init__(self, actions: tuple[Action, ...], summary: dict[str, int] | None = None,
                 notes: tuple[str, ...] = (), edits: tuple[dict, ...] = ()) -> None:
        self.actions = tuple(actions)
        self.summary = dict(summary or {})
        self.notes = tuple(notes)
        self.edits = tuple(edits)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and (self.actions, self.summary, self.notes) == (
            other.actions, other.summary, other.notes)

    def __repr__(self) -> str:
        return f"Plan({self.summary_line()!r})"

    @classmethod
    def of(cls, actions, notes=()) -> Plan:
        """The plan of these actions, counted, with ``notes``."""
        actions = tuple(actions)
        summary = {name: 0 for name in ACTIONS}
        for action in actions:
            summary[action.action] += 1
        return cls(actions=actions, summary=summary, notes=tuple(notes))

    def with_notes(self, notes) -> Plan:
        """This plan with ``notes`` added after its own."""
        return Plan(self.actions, self.summary, (*self.notes, *notes), self.edits)

    def with_edits(self, edits) -> Plan:
        """This plan with the workspace Git folder's ``edits``."""
        return Plan(self.actions, self.summary, self.notes, tuple(edits))

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.action != NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> dict:
        return {"actions": [a.to_json() for a in self.actions], "summary": dict(self.summary),
                "warnings": list(self.notes), "workspace_edits": list(self.edits)}

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(a.step for a in self.actions if a.action == REMOVE)

    @property
    def certain(self) -> tuple[Action, ...]:
        """The changes apply makes whatever the outcome of the steps before them."""
        return tuple(a for a in self.changes if not a.conditional)

    def summary_line(self) -> str:
        """``Plan: 8 to create, 1 to adopt, ...``: a create that takes over what exists (the
        scaffold step adopting a project) is counted as adopted, as its line says."""
        s = self.summary
        removing = f", {s[REMOVE]} to remove" if s.get(REMOVE) else ""
        maybe = sum(1 for a in self.actions if a.conditional)
        maybe = f" ({maybe} only if an upstream step's outputs change)" if maybe else ""
        adopted = sum(1 for a in self.actions if a.action == CREATE
                      and a.reasons[:1] and a.reasons[0].startswith("adopt the existing"))
        adopting = f", {adopted} to adopt" if adopted else ""
        return (
            f"Plan: {s[CREATE] - adopted} to create{adopting}, {s[UPDATE]} to update{maybe}, "
            f"{s[RESUME]} to resume{removing}, {s[NOOP]} unchanged."
        )


def make_plan(
    graph: StepGraph,
    records: Mapping[str, StepRecord],
    check: Callable[[str, StepRecord], list[str]],
    *,
    working: str | None = None,
    adopting: Callable[[str], str | None] = lambda key: None,
) -> Plan:
    """Plan every step of ``graph`` against the saved ``records``. ``working``: who holds the
    target's lock right now (an apply at work), so a step recorded as running is in progress
    there, not interrupted. ``adopting(key)``: for a step never applied, why apply takes
    over what exists instead of creating it (None: it creates it)."""
    actions: dict[str, Action] = {}
    new_outputs: dict[str, bool] = {}  # step -> apply will surely give it other outputs
    fingerprints = Fingerprints(lambda key: records[key].outputs)
    for key in graph.order:
        step = graph.step(key)
        record = records.get(key)
        if working and record is not None and record.status == RUNNING:
            actions[key] = Action(key, RESUME, (f"running in {working}: in progress; "
                                                "plan again when that apply has finished",))
            new_outputs[key] = False
            continue
        if record is None:
            actions[key] = Action(key, CREATE, (adopting(key) or "never applied to this target",))
            new_outputs[key] = False
            continue
        actions[key], new_outputs[key] = _decide(
            key, step, graph, record, records, actions, new_outputs, check, fingerprints)
    for key in sorted(set(records) - set(graph.steps)):
        actions[key] = Action(key, REMOVE, (_removed_reason(key, records[key]),))
    return Plan.of(actions.values())


def _decide(key, step, graph, record, records, decided, new_outputs, check, fingerprints):
    """(the step's action, whether its outputs surely change when apply runs it).

    A step that runs because its inputs or its recorded upstream outputs changed is taken to
    give new outputs (new parameters make a new file, a new commit, a new run); a step created
    again, resumed or repaired may give the same outputs as before, so what depends on it alone
    is a conditional update."""
    if record is None:
        return Action(key, CREATE, ("never applied to this target",)), False
    if record.status == FAILED:
        left, since = _interrupted(key, step, graph, record, decided)
        error = _first_line(record.error)
        if since:  # recomputed: what changed comes first, the old failure is said to be old
            return Action(key, RESUME, (*since, *left, "the last attempt, with the earlier "
                                        f"inputs, failed: {error}")), False
        return Action(key, RESUME, (f"last attempt failed: {error}", *left)), False
    if record.status == RUNNING:
        left, since = _interrupted(key, step, graph, record, decided)
        return Action(key, RESUME, ("last attempt was interrupted", *left, *since)), False
    if record.status != SUCCEEDED:
        return Action(key, CREATE, ("never completed",)), False

    deps = sorted(graph.deps[key])
    moving = [d for d in deps if decided[d].action != NOOP]
    inputs = step.inputs()
    recorded = [d for d in deps if d in records]
    if len(recorded) == len(deps):
        changed = fingerprints.of(inputs, recorded) != record.fingerprint
    else:  # an upstream step without a record: its outputs are known once it has run
        own = material(inputs, {})["inputs"]
        changed = bool(differences(record.inputs.get("inputs", {}), own))
    upstream = [f"upstream {d} will {decided[d].action}" for d in moving]
    if not changed and not any(new_outputs[d] for d in moving):
        drift = check(key, record)
        if drift:
            certain = bool(getattr(step, "repair_changes_outputs", False))
            return Action(key, UPDATE, tuple(drift) + tuple(upstream)), certain
        if not moving:
            return Action(key, NOOP), False
        why = "that step's outputs" if len(moving) == 1 else "their outputs"
        return Action(key, UPDATE, (*upstream, f"runs only if {why} change"), True), False
    snapshot = material(inputs, {d: records[d].outputs for d in recorded})
    reasons = step.annotate(
        differences(record.inputs.get("inputs", {}), snapshot["inputs"]), record.outputs)
    if moving:
        reasons += upstream
        return Action(key, UPDATE, tuple(reasons)), True
    reasons += [  # the fingerprint changed
        f"upstream {line}"
        for line in differences(record.inputs.get("upstream", {}), snapshot["upstream"])
    ]
    return Action(key, UPDATE, tuple(reasons or ["inputs changed"])), True


def _interrupted(key, step, graph, record, decided) -> tuple[list[str], list[str]]:
    """(what an interrupted (or failed) step left in flight (the step says, from its
    checkpoint), what changed since it started: its inputs, old → new, and upstream steps
    that will run)."""
    before = record.inputs.get("inputs")
    if not isinstance(before, dict):  # a record without its inputs: nothing to compare
        return [], []
    changes = differences(before, dict(step.inputs()))
    moving = [f"upstream {d} will {decided[d].action}"
              for d in sorted(graph.deps[key]) if decided[d].action != NOOP]
    left = step.interrupted(record.outputs, before, superseded=bool(changes or moving))
    return left, [*changes, *moving]


def _removed_reason(key: str, record: StepRecord) -> str:
    """What apply does with a step the spec no longer has; an upload's files go with it."""
    target = record.outputs.get("target") if key.startswith("data.upload[") else None
    if not target:
        return REMOVED_REASON
    files = len(record.outputs.get("_manifest", {}))
    return (f"no longer in the spec: apply removes the {files} file(s) it uploaded to "
            f"{target} and forgets its record")


def _first_line(text: str | None) -> str:
    return (text or "unknown error").strip().splitlines()[0][:200] if text else "unknown error"
