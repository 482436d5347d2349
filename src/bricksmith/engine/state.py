"""The state store: one SQLite row per step, committed the moment the step ends.

Rows hold what the planner needs to compare the spec with the last apply (fingerprint and the
inputs it was computed from) and what downstream steps and ``status`` read (outputs). Nothing
stored here is a secret: inputs name environment variables, never their values.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bricksmith.errors import StateError

SCHEMA_VERSION = 1

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    inputs       TEXT NOT NULL,
    outputs      TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    attempt      INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StepRecord:
    key: str
    fingerprint: str
    status: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    attempt: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.key,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempt": self.attempt,
            "error": self.error,
            "outputs": self.outputs,
        }


class StateStore:
    """SQLite-backed step records for one target. Safe to share between threads."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            if readonly:
                uri = f"file:{path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"cannot open the state database {path}: {exc}",
                hint="the file may be damaged; move it aside to start from an empty state",
            ) from exc

    @classmethod
    def open_readonly(cls, path: Path) -> StateStore | None:
        """The state for reading (plan, status), or None when no apply has happened yet."""
        if not path.exists():
            return None
        return cls(path, readonly=True)

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {version}, newer than this "
                f"bricksmith understands ({SCHEMA_VERSION})",
                hint="upgrade bricksmith",
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reading ---------------------------------------------------------------------------

    def all(self) -> dict[str, StepRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, fingerprint, status, inputs, outputs, started_at, finished_at,"
                " attempt, error FROM steps"
            ).fetchall()
        return {row[0]: _record(row) for row in rows}

    def get(self, key: str) -> StepRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, fingerprint, status, inputs, outputs, started_at, finished_at,"
                " attempt, error FROM steps WHERE key = ?",
                (key,),
            ).fetchone()
        return _record(row) if row else None

    # -- writing: one transaction per call -------------------------------------------------

    def mark_running(self, key: str, fingerprint: str, inputs: dict[str, Any]) -> None:
        """Record that a step started. Keeps previous outputs (a resumed step may need them)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO steps(key, fingerprint, status, inputs, outputs, started_at,"
                " finished_at, attempt, error) VALUES (?, ?, 'running', ?, '{}', ?, NULL, 1, NULL)"
                " ON CONFLICT(key) DO UPDATE SET fingerprint=excluded.fingerprint,"
                " status='running', inputs=excluded.inputs, started_at=excluded.started_at,"
                " finished_at=NULL, attempt=steps.attempt + 1, error=NULL",
                (key, fingerprint, _dump(inputs), now()),
            )

    def checkpoint(self, key: str, outputs: dict[str, Any]) -> None:
        """Save partial outputs of a running step (e.g. an external run id) right away."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE steps SET outputs = ? WHERE key = ?", (_dump(outputs), key)
            )

    def mark_succeeded(self, key: str, outputs: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE steps SET status='succeeded', outputs=?, finished_at=?, error=NULL"
                " WHERE key = ?",
                (_dump(outputs), now(), key),
            )

    def mark_failed(self, key: str, error: str, outputs: dict[str, Any] | None = None) -> None:
        with self._lock, self._db:
            if outputs is None:
                self._db.execute(
                    "UPDATE steps SET status='failed', finished_at=?, error=? WHERE key = ?",
                    (now(), error, key),
                )
            else:
                self._db.execute(
                    "UPDATE steps SET status='failed', outputs=?, finished_at=?, error=?"
                    " WHERE key = ?",
                    (_dump(outputs), now(), error, key),
                )

    def mark_skipped(self, key: str, fingerprint: str, inputs: dict[str, Any]) -> None:
        """A step found up to date whose stored inputs snapshot predates this apply."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE steps SET fingerprint=?, inputs=? WHERE key=?",
                (fingerprint, _dump(inputs), key),
            )


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _record(row: tuple) -> StepRecord:
    return StepRecord(
        key=row[0],
        fingerprint=row[1],
        status=row[2],
        inputs=json.loads(row[3]),
        outputs=json.loads(row[4]),
        started_at=row[5],
        finished_at=row[6],
        attempt=row[7],
        error=row[8],
    )
