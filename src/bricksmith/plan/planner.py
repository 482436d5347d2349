"""The planner: a pure function of (graph, saved state, what check() saw).

Per step it decides an action and the reasons for it:

- ``create``  never applied to this target;
- ``resume``  the last attempt failed or was interrupted;
- ``update``  its inputs changed (reasons list old → new), an upstream step will run, or what
  it made has drifted or disappeared (reasons from ``check()``). An update whose only reason
  is an upstream step that will run without new inputs (created again, resumed, repaired
  after drift, or itself conditional) is *conditional*: apply runs it only if that upstream
  step's outputs come out different, which only running it tells;
- ``replace`` up to date, run again on request (``--replace``): what depends on it is a
  conditional update, made only if its outputs come out different;
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

from bricksmith.fingerprints import Fingerprints, differences, material
from bricksmith.statuses import FAILED, RUNNING, SUCCEEDED

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a replayed plan's cost)
if TYPE_CHECKING:
    from bricksmith.plan.graph import StepGraph
    from bricksmith.records import StepRecord

CREATE, UPDATE, RESUME, NOOP, REMOVE = "create", "update", "resume", "noop", "remove"
REPLACE = "replace"
IN_PROGRESS = "in_progress"  # recorded running while another apply holds the target's lock
ACTIONS = (CREATE, UPDATE, RESUME, NOOP, REMOVE)  # always counted in a plan's summary
REMOVED_REASON = "no longer in the spec: apply forgets its record; what it made stays"
REPLACED_REASON = "replaced on request"


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
    :mod:`bricksmith.backends.workspace_edits`), ``"workspace_edits"`` in JSON; ``left_out``:
    the steps an ``--only`` leaves out (no action, nothing done to them), ``"left_out"`` in
    JSON. ``summary`` counts each action; ``"replace"`` only when a step is replaced."""

    def __init__(self, actions: tuple[Action, ...], summary: dict[str, int] | None = None,
                 notes: tuple[str, ...] = (), edits: tuple[dict, ...] = (),
                 left_out: tuple[str, ...] = ()) -> None:
        self.actions = tuple(actions)
        self.summary = dict(summary or {})
        self.notes = tuple(notes)
        self.edits = tuple(edits)
        self.left_out = tuple(left_out)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and (
            self.actions, self.summary, self.notes, self.left_out) == (
            other.actions, other.summary, other.notes, other.left_out)

    def __repr__(self) -> str:
        return f"Plan({self.summary_line()!r})"

    @classmethod
    def of(cls, actions, notes=(), left_out=()) -> Plan:
        """The plan of these actions, counted, with ``notes``."""
        actions = tuple(actions)
        summary = {name: 0 for name in ACTIONS}
        for action in actions:
            summary[action.action] = summary.get(action.action, 0) + 1
        return cls(actions=actions, summary=summary, notes=tuple(notes), left_out=left_out)

    def with_notes(self, notes) -> Plan:
        """This plan with ``notes`` added after its own."""
        return Plan(self.actions, self.summary, (*self.notes, *notes), self.edits,
                    self.left_out)

    def with_edits(self, edits) -> Plan:
        """This plan with the workspace Git folder's ``edits``."""
        return Plan(self.actions, self.summary, self.notes, tuple(edits), self.left_out)

    def with_left_out(self, left_out) -> Plan:
        """This plan saying it leaves ``left_out`` out (an ``--only``)."""
        return Plan(self.actions, self.summary, self.notes, self.edits, tuple(left_out))

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.action != NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> dict:
        return {"actions": [a.to_json() for a in self.actions], "summary": dict(self.summary),
                "warnings": list(self.notes), "workspace_edits": list(self.edits),
                "left_out": list(self.left_out)}

    @property
    def replaced(self) -> tuple[str, ...]:
        """The steps apply runs again on request although they are up to date."""
        return tuple(a.step for a in self.actions if a.action == REPLACE)

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
        replacing = f", {s[REPLACE]} to replace" if s.get(REPLACE) else ""
        if s.get(IN_PROGRESS):
            replacing += f", {s[IN_PROGRESS]} in progress in another apply"
        maybe = sum(1 for a in self.actions if a.conditional)
        maybe = f" ({maybe} only if an upstream step's outputs change)" if maybe else ""
        adopted = sum(1 for a in self.actions if a.action == CREATE
                      and a.reasons[:1] and a.reasons[0].startswith("adopt the existing"))
        adopting = f", {adopted} to adopt" if adopted else ""
        return (
            f"Plan: {s[CREATE] - adopted} to create{adopting}, {s[UPDATE]} to update{maybe}, "
            f"{s[RESUME]} to resume{replacing}{removing}, {s[NOOP]} unchanged."
        )


def make_plan(
    graph: StepGraph,
    records: Mapping[str, StepRecord],
    check: Callable[[str, StepRecord], list[str]],
    *,
    working: str | None = None,
    adopting: Callable[[str], str | None] = lambda key: None,
    replace: frozenset[str] = frozenset(),
    partial: bool = False,
) -> Plan:
    """Plan every step of ``graph`` against the saved ``records``. ``working``: who holds the
    target's lock right now (an apply at work), so a step recorded as running is in progress
    there, not interrupted. ``adopting(key)``: for a step never applied, why apply takes
    over what exists instead of creating it (None: it creates it). ``replace``: steps run
    again even when up to date (``--replace``). ``partial``: ``graph`` is part of the
    workflow (an ``--only``): the records of other steps are left alone, none removed."""
    actions: dict[str, Action] = {}
    new_outputs: dict[str, bool] = {}  # step -> apply will surely give it other outputs
    fingerprints = Fingerprints(lambda key: records[key].outputs)
    for key in graph.order:
        step = graph.step(key)
        record = records.get(key)
        if working and record is not None and record.status == RUNNING:
            actions[key] = Action(key, IN_PROGRESS, (
                f"running in {working}; plan again when that apply has finished",))
            new_outputs[key] = False
            continue
        if record is None:
            actions[key] = Action(key, CREATE, (adopting(key) or "never applied to this target",))
            new_outputs[key] = False
            continue
        actions[key], new_outputs[key] = _decide(
            key, step, graph, record, records, actions, new_outputs, check, fingerprints,
            forced=key in replace)
        if key in replace:
            actions[key] = _replaced(actions[key])
    for key in sorted(set(records) - set(graph.steps)) if not partial else ():
        actions[key] = Action(key, REMOVE, (_removed_reason(key, records[key]),))
    return Plan.of(actions.values())


def _decide(key, step, graph, record, records, decided, new_outputs, check, fingerprints,
            forced=False):
    """(the step's action, whether its outputs surely change when apply runs it).

    A step that runs because its inputs or its recorded upstream outputs changed is taken to
    give new outputs (new parameters make a new file, a new commit, a new run); a step created
    again, resumed or repaired may give the same outputs as before, so what depends on it alone
    is a conditional update. ``forced`` (``--replace``): what an interrupted attempt left is
    superseded, never adopted."""
    if record is None:
        return Action(key, CREATE, ("never applied to this target",)), False
    if record.status == FAILED:
        left, since = _interrupted(key, step, graph, record, decided, forced)
        error = _first_line(record.error)
        if since:  # recomputed: what changed comes first, the old failure is said to be old
            return Action(key, RESUME, (*since, *left, "the last attempt, with the earlier "
                                        f"inputs, failed: {error}")), False
        return Action(key, RESUME, (f"last attempt failed: {error}", *left)), False
    if record.status == RUNNING:
        left, since = _interrupted(key, step, graph, record, decided, forced)
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


def _replaced(action: Action) -> Action:
    """``action`` of a step named by ``--replace``: one that would not surely run (nothing to
    do, a conditional update) becomes a replace; one that runs anyway says it was asked for
    too."""
    if action.action == NOOP:
        return Action(action.step, REPLACE, (REPLACED_REASON,))
    if action.conditional:  # its last reason, "runs only if ... change", no longer holds
        return Action(action.step, REPLACE, (REPLACED_REASON, *action.reasons[:-1]))
    return Action(action.step, action.action, (*action.reasons, REPLACED_REASON))


def _interrupted(key, step, graph, record, decided,
                 forced=False) -> tuple[list[str], list[str]]:
    """(what an interrupted (or failed) step left in flight (the step says, from its
    checkpoint), what changed since it started: its inputs, old → new, and upstream steps
    that will run)."""
    before = record.inputs.get("inputs")
    if not isinstance(before, dict):  # a record without its inputs: nothing to compare
        return [], []
    changes = differences(before, dict(step.inputs()))
    moving = [f"upstream {d} will {decided[d].action}"
              for d in sorted(graph.deps[key]) if decided[d].action != NOOP]
    left = step.interrupted(record.outputs, before,
                            superseded=bool(changes or moving or forced))
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
