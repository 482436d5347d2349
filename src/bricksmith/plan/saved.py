"""Saved plans: ``bricksmith plan SPEC --out FILE``, then ``bricksmith apply FILE``.

A saved plan holds what it was made from — the spec file and a digest of its bytes, the
target, the ``--var`` values, the ``--only`` and ``--replace`` patterns, a digest of the
target's state — and the actions it showed (and the steps an ``--only`` left out).
Applying it is refused as stale when any of those moved since, or when planning again now
gives other actions (an environment variable changed, something drifted): what runs is
exactly what was reviewed, or nothing. Environment values are never written into the file.

Pure: turning a plan into JSON and back, and the digests. Reading and writing the file is the
caller's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bricksmith.errors import UsageError
from bricksmith.plan.planner import Action, Plan
from bricksmith.records import StepRecord

FORMAT = 1  # "only", "replace" and "left_out" are optional: absent, the plan is of it all
MARKER = "bricksmith_plan"  # the key that tells a saved plan from a spec


@dataclass(frozen=True)
class SavedPlan:
    spec: str  # the spec file, absolute
    spec_sha256: str
    target: str
    variables: dict[str, str]
    state_digest: str
    plan: Plan
    only: tuple[str, ...] = ()  # the --only patterns it was planned with
    replace: tuple[str, ...] = ()  # the --replace patterns

    def to_json(self) -> dict[str, Any]:
        return {
            MARKER: FORMAT,
            "spec": self.spec,
            "spec_sha256": self.spec_sha256,
            "target": self.target,
            "variables": dict(self.variables),
            "state_digest": self.state_digest,
            "only": list(self.only),
            "replace": list(self.replace),
            **self.plan.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any, file: str) -> SavedPlan:
        """Raises :class:`UsageError` when ``data`` is not a saved plan this version reads."""
        if not is_saved_plan(data):
            raise UsageError(f"{file} is not a saved plan", hint=_MAKE_ONE)
        if data[MARKER] != FORMAT:
            raise UsageError(
                f"{file} is a saved plan of format {data[MARKER]!r}; "
                f"this bricksmith reads format {FORMAT}",
                hint=_MAKE_ONE,
            )
        try:
            actions = tuple(
                Action.from_json(a) for a in data["actions"]
            )
            return cls(
                spec=str(data["spec"]),
                spec_sha256=str(data["spec_sha256"]),
                target=str(data["target"]),
                variables={str(k): str(v) for k, v in data["variables"].items()},
                state_digest=str(data["state_digest"]),
                plan=Plan(actions=actions, summary=dict(data["summary"]),
                          notes=tuple(str(n) for n in data.get("warnings", ())),
                          left_out=tuple(str(k) for k in data.get("left_out", ()))),
                only=_patterns(data.get("only", [])),
                replace=_patterns(data.get("replace", [])),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise UsageError(
                f"{file} is a damaged saved plan (missing {exc})", hint=_MAKE_ONE
            ) from None


def _patterns(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("'only'/'replace' (lists of step names)")
    return tuple(value)


_MAKE_ONE = "save one with `bricksmith plan SPEC --out FILE`"


def is_saved_plan(data: Any) -> bool:
    return isinstance(data, dict) and MARKER in data


def bytes_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def state_digest(records: Mapping[str, StepRecord]) -> str:
    """Changes whenever a step starts, ends or is reset; not when an apply merely finds steps
    up to date (their "checked at" time is left out)."""
    digest = hashlib.sha256()
    for key in sorted(records):
        r = records[key]
        digest.update(f"{key}\0{r.fingerprint}\0{r.status}\0{r.attempt}\0{r.finished_at}\n".encode())
    return digest.hexdigest()


def stale_reasons(saved: Plan, now: Plan) -> list[str]:
    """How planning again now differs from the saved plan ([] when it is the same)."""
    before = {a.step: a for a in saved.actions}
    after = {a.step: a for a in now.actions}
    reasons = []
    for step in sorted(before.keys() | after.keys()):
        was, is_ = before.get(step), after.get(step)
        if was is None:
            reasons.append(f"{step}: a new step ({is_.action})")
        elif is_ is None:
            reasons.append(f"{step}: no longer in the workflow")
        elif was.action != is_.action or was.reasons != is_.reasons:
            now_said = f"{is_.action}" + (f" ({'; '.join(is_.reasons)})" if is_.reasons else "")
            reasons.append(f"{step}: planned {was.action}, now {now_said}")
    return reasons
