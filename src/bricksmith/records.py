"""A step's record as the state store returns it: the row, its JSON decoded when asked.

At the bottom, owned by no layer: the engine's state store writes records, the planner and
saved plans read them. Decoding names damage instead of raising a bare JSONDecodeError,
TypeError or KeyError: a column that is not a JSON object, or a key every record of its step
has, missing, is a :class:`StateError` naming the state file, the step and the column, with
the way out (``damaged``: the error for a state database that is not what bricksmith wrote).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from bricksmith.errors import StateError


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def damaged(path: Path, detail: str) -> StateError:
    """The error for a state database that is not what bricksmith wrote, with the way out."""
    backup = backup_path(path)
    if backup.exists():
        hint = (
            f"the previous good copy is {backup.name}: run `bricksmith state restore SPEC` to "
            f"bring it back (it says what the next apply will repeat), or move {path.name} "
            "aside to start from an empty state"
        )
    else:
        hint = (f"there is no previous copy; move {path} aside to start from an empty state "
                "(the next apply then redoes every step)")
    return StateError(f"the state database {path} is damaged: {detail}", hint=hint)


class DamagedRecord(StateError, KeyError):
    """A step record lacks a key every record of its step has: the state was damaged (a
    ``KeyError`` too, so code that expects a key to be missing still catches it)."""


class Recorded(dict):
    """A JSON object read from a step record; a missing key raises :class:`DamagedRecord`
    naming the file, the step and the column, instead of a bare KeyError."""

    __slots__ = ("where",)

    def __init__(self, data: dict, where: tuple[str, str, str]) -> None:
        super().__init__(data)
        self.where = where  # (state file, step key, column)

    def __missing__(self, key: Any):
        path, step, column = self.where
        error = damaged(Path(path), f"the record of step {step} has no {key!r} in its "
                        f"{column}")
        raise DamagedRecord(error.message, hint=error.hint)

    def copy(self) -> Recorded:
        return Recorded(self, self.where)

    def __reduce__(self):  # pickles (and copy.copy) are plain dicts
        return (dict, (dict(self),))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StepRecord:
    key: str
    fingerprint: str
    status: str
    inputs_json: str = "{}"  # what the fingerprint was computed from; decoded when asked
    outputs_json: str = "{}"  # decoded when asked: a plan reads few of 10,000 manifests
    started_at: str | None = None
    finished_at: str | None = None
    attempt: int = 0
    error: str | None = None
    checked_at: str | None = None  # when an apply last found it up to date
    source: str = field(default="", compare=False)  # the state file it was read from

    @cached_property
    def inputs(self) -> dict[str, Any]:
        """The step's inputs and upstream outputs at its last start (only a plan that finds
        the step changed reads them, to say what changed). Raises StateError when the
        column is not a JSON object."""
        return _decode(self, "inputs", self.inputs_json)

    @cached_property
    def outputs(self) -> dict[str, Any]:
        """What the step made, as its last apply recorded it: a :class:`Recorded` dict, so
        that reading a key the record lacks names the damage. Raises StateError when the
        column is not a JSON object."""
        return _decode(self, "outputs", self.outputs_json)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.key,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempt": self.attempt,
            "error": self.error,
            "checked_at": self.checked_at,
            "outputs": self.outputs,
        }


def _decode(record: StepRecord, column: str, text: str) -> Recorded:
    where = (record.source, record.key, column)
    try:
        value = json.loads(text, object_hook=lambda obj: Recorded(obj, where))
    except (TypeError, ValueError) as exc:
        raise damaged(Path(record.source), f"the {column} of step {record.key} are not JSON "
                      f"({exc})") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(value), "a number")
        raise damaged(Path(record.source), f"the {column} of step {record.key} are {kind}, "
                      "not a JSON object")
    return value if isinstance(value, Recorded) else Recorded(value, where)


def record_of(row: tuple, source: str = "") -> StepRecord:
    """The record of a row (key, fingerprint, status, inputs, outputs, started_at,
    finished_at, attempt, error, checked_at) read from the state file ``source``."""
    return StepRecord(
        key=row[0],
        fingerprint=row[1],
        status=row[2],
        inputs_json=row[3],
        outputs_json=row[4],
        started_at=row[5],
        finished_at=row[6],
        attempt=row[7],
        error=row[8],
        checked_at=row[9],
        source=source,
    )
