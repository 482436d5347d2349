"""The state store: one SQLite row per step, committed the moment the step ends.

Rows hold what the planner needs to compare the spec with the last apply (fingerprint and the
inputs it was computed from) and what downstream steps and ``status`` read (outputs). Nothing
stored here is a secret: inputs name environment variables, never their values.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from bricksmith.engine.revision import revision_of
from bricksmith.engine.status import FAILED as FAILED
from bricksmith.engine.status import PENDING as PENDING
from bricksmith.engine.status import RUNNING as RUNNING
from bricksmith.engine.status import SUCCEEDED as SUCCEEDED
from bricksmith.errors import StateError

SCHEMA_VERSION = 4

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

# Forward migrations: MIGRATIONS[n] (statements run in one transaction) takes a version n-1
# database to version n.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        """CREATE TABLE IF NOT EXISTS applies (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at   TEXT NOT NULL,
            finished_at  TEXT,
            status       TEXT NOT NULL,
            holder       TEXT NOT NULL
        )""",
    ),
    # when an apply last found a step up to date: a narrow table of its own, since updating a
    # column of ``steps`` rewrites the whole row (outputs can be large)
    3: ("CREATE TABLE IF NOT EXISTS checked (key TEXT PRIMARY KEY, at TEXT NOT NULL)",),
    # a revision that every change to ``steps`` moves, in a database with a random generation:
    # (generation, revision) names one content of ``steps`` (what a plan memo was made from)
    4: (
        "INSERT OR IGNORE INTO meta(key, value) VALUES"
        " ('generation', lower(hex(randomblob(16)))), ('revision', '0')",
        *(
            f"""CREATE TRIGGER IF NOT EXISTS steps_revision_{event.lower()} AFTER {event} ON steps
            BEGIN
                UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision';
            END"""
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
}


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

    @cached_property
    def inputs(self) -> dict[str, Any]:
        """The step's inputs and upstream outputs at its last start (only a plan that finds
        the step changed reads them, to say what changed)."""
        return json.loads(self.inputs_json)

    @cached_property
    def outputs(self) -> dict[str, Any]:
        """What the step made, as its last apply recorded it."""
        return json.loads(self.outputs_json)

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


class StateStore:
    """SQLite-backed step records for one target. Safe to share between threads."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            existed = path.exists()
            if readonly:
                uri = f"file:{path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            if existed:
                self._verify()
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                if not existed:
                    self._db.executescript(
                        _SCHEMA + "".join(f"{sql};\n" for m in MIGRATIONS.values() for sql in m)
                    )
                    self._db.execute(
                        "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
            self._check_version(migrate=not readonly)
        except sqlite3.DatabaseError as exc:
            raise damaged(path, str(exc)) from None

    @classmethod
    def open_readonly(cls, path: Path) -> StateStore | None:
        """The state for reading (plan, status), or None when no apply has happened yet."""
        if not path.exists():
            return None
        return cls(path, readonly=True)

    def _verify(self) -> None:
        """Refuse a damaged database (truncated, overwritten) with a way out."""
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise damaged(self.path, "; ".join(problems[:3]))

    def _check_version(self, *, migrate: bool) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            raise damaged(self.path, "it has no schema version")
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {version}, newer than this "
                f"bricksmith understands ({SCHEMA_VERSION})",
                hint="upgrade bricksmith",
            )
        # a read-only look at an older database (not migrated) has no ``checked`` table
        self._select = _SELECT if version >= 3 or migrate else _SELECT_V2
        if version < SCHEMA_VERSION and migrate:
            with self._db:  # one transaction: all migrations or none
                self._db.execute("BEGIN")
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[target]:
                        self._db.execute(statement)
                self._db.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    def revision(self) -> tuple[str, int] | None:
        """(generation, revision) of the steps table; None before schema version 4."""
        with self._lock:
            return revision_of(self._db)

    def backup(self) -> Path:
        """Copy the database (consistently, via SQLite's backup API) beside it, as the
        previous good copy that ``restore`` brings back."""
        target = backup_path(self.path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.unlink(missing_ok=True)
        with self._lock:
            copy = sqlite3.connect(tmp)
            try:
                self._db.backup(copy)
            finally:
                copy.close()
        os.replace(tmp, target)
        return target

    # -- applies (history) -------------------------------------------------------------------

    def begin_apply(self, holder: str) -> int:
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO applies(started_at, status, holder) VALUES (?, 'running', ?)",
                (now(), holder),
            )
            return int(cursor.lastrowid)

    def end_apply(self, apply_id: int, status: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE applies SET finished_at=?, status=? WHERE id=?", (now(), status, apply_id)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reading ---------------------------------------------------------------------------

    def all(self) -> dict[str, StepRecord]:
        with self._lock:
            rows = self._db.execute(self._select).fetchall()
        return {row[0]: _record(row) for row in rows}

    def keys(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT key FROM steps")}

    def get(self, key: str) -> StepRecord | None:
        with self._lock:
            row = self._db.execute(
                f"{self._select} WHERE key = ?",
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

    def mark_checked(self, keys: list[str]) -> None:
        """Record that an apply found ``keys`` up to date: one transaction for the batch."""
        stamp = now()
        with self._lock, self._db:
            self._db.execute("BEGIN")  # autocommit otherwise: one fsync per row
            self._db.executemany(
                "INSERT OR REPLACE INTO checked(key, at) VALUES (?, ?)",
                [(key, stamp) for key in keys],
            )

    def forget(self, keys: list[str]) -> None:
        """Drop the records of steps the spec no longer has, in one transaction."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM steps WHERE key = ?", [(key,) for key in keys])
            self._db.executemany("DELETE FROM checked WHERE key = ?", [(key,) for key in keys])

    def mark_failed(self, key: str, error: str) -> None:
        """Record a failure; the outputs checkpointed so far (a log, a run id) are kept."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE steps SET status='failed', finished_at=?, error=? WHERE key = ?",
                (now(), error, key),
            )


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def damaged(path: Path, detail: str) -> StateError:
    backup = backup_path(path)
    if backup.exists():
        hint = (
            f"the previous good copy is {backup.name} (saved at the start of the last apply): "
            "run `bricksmith state restore SPEC` to bring it back"
        )
    else:
        hint = "there is no previous copy; move the file aside to start from an empty state"
    return StateError(f"the state database {path} is damaged: {detail}", hint=hint)


def restore(path: Path) -> Path:
    """Put the previous good copy back in place of a damaged (or any) state database.
    The replaced file is kept beside it; returns its new name."""
    backup = backup_path(path)
    if not backup.exists():
        raise StateError(f"there is no backup of {path} to restore ({backup.name} is missing)")
    try:
        check = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            ok = check.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            check.close()
    except sqlite3.DatabaseError:
        ok = False
    if not ok:
        raise StateError(f"the backup {backup} is damaged too", hint="move both files aside")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.replaced-{stamp}")
    if path.exists():
        os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    tmp = path.with_name(path.name + ".restore-tmp")
    shutil.copyfile(backup, tmp)
    os.replace(tmp, path)
    return aside


_COLUMNS = "key, fingerprint, status, inputs, outputs, started_at, finished_at, attempt, error"
_SELECT = f"SELECT {_COLUMNS}, at FROM steps LEFT JOIN checked USING (key)"
_SELECT_V2 = f"SELECT {_COLUMNS}, NULL FROM steps"


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _record(row: tuple) -> StepRecord:
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
    )
