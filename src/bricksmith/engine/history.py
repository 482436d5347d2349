"""Run history: every execution of a step that keeps one (a run), never overwritten.

A step's row in ``steps`` holds only its latest result; the ``executions`` table (schema
version 5) keeps one row per execution that ended: the step, its status, when it started and
ended, and an ``entry`` (a JSON object the step itself makes, see ``Step.history_entry``:
for a run its params, effective params, metrics, commit, duration and log path). It is
written in the same transaction as the step's result, so the two never disagree. It has no
revision trigger: the revision names the content of ``steps`` (what a plan reads), and every
execution is written together with a change of ``steps`` anyway.

A row that is not what bricksmith wrote gives the same named-damage :class:`StateError` as a
damaged step record (the file, the step, the way out).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bricksmith.records import damaged

SINCE = 5  # the schema version that has the table

MIGRATION = (
    """CREATE TABLE IF NOT EXISTS executions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        step         TEXT NOT NULL,
        status       TEXT NOT NULL,
        started_at   TEXT,
        finished_at  TEXT NOT NULL,
        entry        TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS executions_step ON executions(step, id)",
)

COLUMNS = ("id", "step", "status", "started_at", "finished_at", "entry")


@dataclass(frozen=True)
class Execution:
    """One ended execution of a step. ``number``: its position among the step's executions
    (1 = the first); ``entry``: what the step recorded of it (a dict)."""

    id: int
    step: str
    number: int
    status: str
    started_at: str | None
    finished_at: str
    entry: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "execution": self.number, "status": self.status,
                "started_at": self.started_at, "finished_at": self.finished_at, **self.entry}


def record(db: sqlite3.Connection, key: str, status: str, finished_at: str,
           entry: dict[str, Any]) -> None:
    """Add an execution of step ``key`` (inside the caller's transaction); its start is the
    one its ``steps`` row holds."""
    db.execute(
        "INSERT INTO executions(step, status, started_at, finished_at, entry) "
        "SELECT ?, ?, (SELECT started_at FROM steps WHERE key = ?), ?, ?",
        (key, status, key, finished_at, json.dumps(entry, sort_keys=True, default=str)),
    )


def read(db: sqlite3.Connection, path: Path, step: str | None = None) -> list[Execution]:
    """Every execution (of ``step`` only, when given), oldest first. Raises StateError
    naming the damage of a row that is not what bricksmith wrote."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM executions"
    rows = (db.execute(f"{sql} WHERE step = ? ORDER BY id", (step,)) if step is not None
            else db.execute(f"{sql} ORDER BY id")).fetchall()
    counts: dict[str, int] = {}
    out = []
    for row in rows:
        out.append(_execution(row, path, counts))
    return out


def _execution(row: tuple, path: Path, counts: dict[str, int]) -> Execution:
    ident, step, status, started, finished, text = row
    if not isinstance(ident, int) or not all(isinstance(v, str) for v in (step, status,
                                                                           finished, text)):
        raise damaged(path, f"execution {ident} of step {step} in its history holds a value "
                      "of the wrong type")
    try:
        entry = json.loads(text)
    except ValueError as exc:
        raise damaged(path, f"the history entry of execution {ident} of step {step} is not "
                      f"JSON ({exc})") from None
    if not isinstance(entry, dict):
        raise damaged(path, f"the history entry of execution {ident} of step {step} is not "
                      "a JSON object")
    counts[step] = counts.get(step, 0) + 1
    return Execution(ident, step, counts[step], status, started, finished, entry)
