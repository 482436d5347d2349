"""The state store: one SQLite row per step, committed the moment the step ends.

Rows hold what the planner needs to compare the spec with the last apply (fingerprint and the
inputs it was computed from) and what downstream steps and ``status`` read (outputs). Nothing
stored here is a secret: inputs name environment variables, never their values.
The tables and their migrations are :mod:`.schema`; the file itself (created whole, verified
on open, named when damaged) :mod:`.statefile`; a record as read, :mod:`bricksmith.records`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bricksmith.engine import history, statefile
from bricksmith.engine.history import Execution
from bricksmith.engine.schema import CREATE, MIGRATIONS, SCHEMA_VERSION
from bricksmith.engine.statefile import check_owner
from bricksmith.errors import StateError
from bricksmith.records import StepRecord, backup_path, damaged, now, record_of
from bricksmith.state_revision import revision_of, sound


class StateStore:
    """SQLite-backed step records for one target. Safe to share between threads.

    Every failure of SQLite is a :class:`StateError`: damage (a page, a table or column gone,
    rows that are not what bricksmith wrote) names the file and the way out; a database that
    cannot be written (full disk, read-only, locked by another process for more than
    ``BUSY_TIMEOUT_S``) says so, so the apply stops at once instead of hanging."""

    BUSY_TIMEOUT_S = 5.0

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        if not readonly and (not path.exists() or self._blank()):
            statefile.create(path, CREATE, {"schema_version": str(SCHEMA_VERSION)})
        try:
            if readonly:
                uri = f"file:{path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False,
                                           timeout=self.BUSY_TIMEOUT_S)
            else:
                self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                           timeout=self.BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise (damaged(path, str(exc)) if readonly else statefile.unwritable(path, exc)
                   ) from None
        try:
            try:
                version = statefile.verify(self._db, path)
            except StateError as exc:
                if not (readonly and "readonly database" in exc.message):
                    raise
                # A killed writer left a hot journal or WAL that a read-only connection may not
                # roll back: SQLite's own recovery needs a writable connection. It changes
                # nothing that was committed.
                self._db.close()
                self._db = sqlite3.connect(path, check_same_thread=False,
                                           timeout=self.BUSY_TIMEOUT_S)
                version = statefile.verify(self._db, path)
            try:
                if not readonly:
                    self._db.execute("PRAGMA journal_mode=WAL")
                    self._db.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as exc:
                raise self._fault(exc, writing=True) from None
            self._check_version(version, migrate=not readonly)
        except BaseException:
            self._db.close()  # refused: no connection left open on it
            raise

    @classmethod
    def open_readonly(cls, path: Path) -> StateStore | None:
        """The state for reading (plan, status), or None when no apply has happened yet (no
        file, or a blank one a killed first apply left)."""
        if not path.exists():
            return None
        store = cls.__new__(cls)
        store.path = path
        if store._blank():
            return None
        return cls(path, readonly=True)

    def _blank(self) -> bool:
        """Whether the file holds nothing to lose (see statefile.is_blank); False when it
        cannot be read (then opening it names the damage)."""
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error:
            return False
        try:
            return statefile.is_blank(db)
        except sqlite3.Error:
            return False
        finally:
            db.close()

    def _fault(self, exc: sqlite3.Error, *, writing: bool) -> StateError:
        text = str(exc).lower()
        if any(word in text for word in ("no such", "malformed", "not a database", "corrupt")):
            return damaged(self.path, str(exc))
        if writing:
            return statefile.unwritable(self.path, exc)
        return StateError(f"the state database {self.path} cannot be read: {exc}",
                          hint="fix the cause (permissions, another process), then try again")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._fault(exc, writing=False) from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction (the caller may BEGIN for several statements)."""
        with self._lock:
            try:
                with self._db:
                    yield self._db
            except sqlite3.Error as exc:
                try:
                    if self._db.in_transaction:
                        self._db.rollback()
                except sqlite3.Error:
                    pass
                raise self._fault(exc, writing=True) from None

    def _check_version(self, version: int, *, migrate: bool) -> None:
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {version}, newer than this "
                f"bricksmith understands ({SCHEMA_VERSION})",
                hint="upgrade bricksmith",
            )
        self._version = version
        # a read-only look at an older database (not migrated) has no ``checked`` table
        self._select = _SELECT if version >= 3 or migrate else _SELECT_V2
        if version < SCHEMA_VERSION and migrate:
            with self._writing() as db:  # one transaction: all migrations or none
                db.execute("BEGIN")
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[target]:
                        db.execute(statement)
                db.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )
            self._version = SCHEMA_VERSION

    @property
    def schema_version(self) -> int:
        return self._version

    def revision(self) -> tuple[str, int] | None:
        """(generation, revision) of the steps table; None before schema version 4."""
        with self._reading() as db:
            try:
                return revision_of(db)
            except ValueError:
                raise damaged(self.path, "its revision is not a number") from None

    # -- which workflow the state belongs to -------------------------------------------------

    def owner(self) -> tuple[str, str] | None:
        """(workflow name, spec path) of the workflow whose applies wrote this state; None
        when no apply recorded it (a state of an older bricksmith)."""
        with self._reading() as db:
            rows = dict(db.execute(
                "SELECT key, value FROM meta WHERE key IN ('workflow', 'spec')").fetchall())
        return (rows["workflow"], rows.get("spec", "")) if "workflow" in rows else None

    def claim(self, workflow: str, spec: str) -> None:
        """Record that ``workflow`` (its spec at ``spec``) owns this state; refuses
        (StateError) a state another workflow owns."""
        check_owner(self.path, self.owner(), workflow, spec)
        with self._writing() as db:
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           [("workflow", workflow), ("spec", spec)])

    def backup(self, taken: str = "at the start of an apply", *, check: bool = False) -> Path:
        """Copy the database (consistently, via SQLite's backup API) beside it, as the
        latest good copy that ``restore`` brings back; ``taken`` says when (kept in the
        copy's meta table). ``check``: first make sure it is sound (a damaged state never
        replaces a good copy). Raises StateError when the copy cannot be written."""
        target = backup_path(self.path)
        tmp = target.with_name(target.name + ".tmp")
        if check:
            with self._reading() as db:
                if not sound(db):
                    raise damaged(self.path, "SQLite's quick_check failed")
            self.check_rows()
        try:
            tmp.unlink(missing_ok=True)
            with self._lock:
                copy = sqlite3.connect(tmp)
                try:
                    self._db.backup(copy)
                    copy.execute("PRAGMA journal_mode=DELETE")
                    with copy:
                        copy.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                                     "('backup_taken', ?)", (f"{taken} ({now()})",))
                finally:
                    copy.close()
            statefile._fsync(tmp)
            os.replace(tmp, target)
        except (OSError, sqlite3.Error) as exc:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise statefile.unwritable(target, exc) from None
        return target

    # -- applies (history) -------------------------------------------------------------------

    def begin_apply(self, holder: str) -> int:
        with self._writing() as db:
            cursor = db.execute(
                "INSERT INTO applies(started_at, status, holder) VALUES (?, 'running', ?)",
                (now(), holder),
            )
            return int(cursor.lastrowid)

    def end_apply(self, apply_id: int, status: str) -> None:
        with self._writing() as db:
            db.execute(
                "UPDATE applies SET finished_at=?, status=? WHERE id=?", (now(), status, apply_id)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reading ---------------------------------------------------------------------------

    def all(self) -> dict[str, StepRecord]:
        with self._reading() as db:
            rows = db.execute(self._select).fetchall()
        return {row[0]: self._record(row) for row in rows}

    def keys(self) -> set[str]:
        with self._reading() as db:
            return {row[0] for row in db.execute("SELECT key FROM steps")}

    def get(self, key: str) -> StepRecord | None:
        with self._reading() as db:
            row = db.execute(f"{self._select} WHERE key = ?", (key,)).fetchone()
        return self._record(row) if row else None

    def check_rows(self) -> None:
        """Refuse (StateError naming the step and column) a record whose inputs or outputs are
        not a JSON object; SQLite's JSON functions do it without decoding in Python. Apply
        calls it before it writes anything (a backup of a damaged state, its owner)."""
        shape = ("CASE WHEN json_valid({0}) THEN json_type({0}) ELSE 'not JSON' END "
                 "!= 'object'")
        try:
            with self._reading() as db:
                row = db.execute(
                    f"{self._select} WHERE {shape.format('inputs')} OR "
                    f"{shape.format('outputs')} LIMIT 1").fetchone()
        except StateError:
            raise
        if row is not None:
            record = self._record(row)
            record.inputs, record.outputs  # noqa: B018 - raises the precise error
            raise damaged(self.path, f"the record of step {record.key} is not a JSON object")

    def revision_matches(self, other: Path) -> bool:
        """Whether the database at ``other`` (a backup) holds the same steps, by revision."""
        from bricksmith.state_revision import read_revision

        mine = self.revision()
        return mine is not None and read_revision(other) == mine

    def _record(self, row: tuple) -> StepRecord:
        if not all(isinstance(v, str) for v in row[:5]):
            raise damaged(self.path, f"the record of step {row[0]} holds a value of the "
                          "wrong type")
        return record_of(row, str(self.path))

    # -- writing: one transaction per call -------------------------------------------------

    def mark_running(self, key: str, fingerprint: str, inputs: dict[str, Any]) -> None:
        """Record that a step started. Keeps previous outputs (a resumed step may need them)."""
        with self._writing() as db:
            db.execute(
                "INSERT INTO steps(key, fingerprint, status, inputs, outputs, started_at,"
                " finished_at, attempt, error) VALUES (?, ?, 'running', ?, '{}', ?, NULL, 1, NULL)"
                " ON CONFLICT(key) DO UPDATE SET fingerprint=excluded.fingerprint,"
                " status='running', inputs=excluded.inputs, started_at=excluded.started_at,"
                " finished_at=NULL, attempt=steps.attempt + 1, error=NULL",
                (key, fingerprint, _dump(inputs), now()),
            )

    def checkpoint(self, key: str, outputs: dict[str, Any]) -> None:
        """Save partial outputs of a running step (e.g. an external run id) right away."""
        with self._writing() as db:
            db.execute("UPDATE steps SET outputs = ? WHERE key = ?", (_dump(outputs), key))

    def mark_succeeded(self, key: str, outputs: dict[str, Any],
                       entry: dict[str, Any] | None = None) -> None:
        """Record a success; ``entry``: the execution to keep in the run history, in the
        same transaction."""
        stamp = now()
        with self._writing() as db:
            db.execute("BEGIN")
            if entry is not None:
                history.record(db, key, "succeeded", stamp, entry)
            db.execute(
                "UPDATE steps SET status='succeeded', outputs=?, finished_at=?, error=NULL"
                " WHERE key = ?",
                (_dump(outputs), stamp, key),
            )

    def mark_checked(self, keys: list[str]) -> None:
        """Record that an apply found ``keys`` up to date: one transaction for the batch."""
        stamp = now()
        with self._writing() as db:
            db.execute("BEGIN")  # autocommit otherwise: one fsync per row
            db.executemany(
                "INSERT OR REPLACE INTO checked(key, at) VALUES (?, ?)",
                [(key, stamp) for key in keys],
            )

    def forget(self, keys: list[str]) -> None:
        """Drop the records of steps the spec no longer has, in one transaction."""
        with self._writing() as db:
            db.execute("BEGIN")
            db.executemany("DELETE FROM steps WHERE key = ?", [(key,) for key in keys])
            db.executemany("DELETE FROM checked WHERE key = ?", [(key,) for key in keys])

    def mark_failed(self, key: str, error: str, entry: dict[str, Any] | None = None) -> None:
        """Record a failure; the outputs checkpointed so far (a log, a run id) are kept.
        ``entry``: as for :meth:`mark_succeeded` (with the error added)."""
        stamp = now()
        with self._writing() as db:
            db.execute("BEGIN")
            if entry is not None:
                history.record(db, key, "failed", stamp, {**entry, "error": error})
            db.execute("UPDATE steps SET status='failed', finished_at=?, error=? WHERE key = ?",
                       (stamp, error, key))

    def executions(self, step: str | None = None) -> list[Execution]:
        """The run history (of ``step`` only, when given), oldest first; [] in a state older
        than schema version 5 read without migrating. Raises StateError on damage."""
        if self._version < history.SINCE:
            return []
        with self._reading() as db:
            return history.read(db, self.path, step)


def restore(path: Path) -> Path:
    """Put the latest good copy back; see :func:`bricksmith.engine.restore.restore`."""
    from bricksmith.engine.restore import restore as _restore
    return _restore(path).aside


_COLUMNS = "key, fingerprint, status, inputs, outputs, started_at, finished_at, attempt, error"
_SELECT = f"SELECT {_COLUMNS}, at FROM steps LEFT JOIN checked USING (key)"
_SELECT_V2 = f"SELECT {_COLUMNS}, NULL FROM steps"


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)
