"""The state database as a file: born whole, checked on every open, named when damaged.

``create`` builds the schema in a temporary file beside the target, fsyncs it and renames it
into place, so a killed first apply leaves either no ``state.db`` or a whole one. A file that
holds no step records and no schema version (left by an older bricksmith killed while it
created the state) is ``blank``: the next apply replaces it. ``verify`` refuses anything else
that is not what bricksmith wrote: a page SQLite finds damaged, a missing table or column, a
non-numeric schema version. Errors name the file and say how to get out (``state restore``,
or moving the file aside).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from bricksmith.errors import StateError
from bricksmith.records import damaged
from bricksmith.state_revision import TABLES

CREATING = ".create-tmp"  # suffix of a state being built (removed, or renamed into place)


def unwritable(path: Path, exc: BaseException) -> StateError:
    """The error for a state database that cannot be written right now (full disk, read-only
    file system, another process holding SQLite's lock)."""
    reason = str(exc) or type(exc).__name__
    low = reason.lower()
    if "full" in low or "no space" in low:
        fix = "free space on that file system"
    elif "readonly" in low or "read-only" in low:
        fix = "make the file and its folder writable"
    elif "locked" in low or "busy" in low:
        fix = "stop the other process that has it open"
    else:
        fix = "fix the cause"
    return StateError(
        f"the state database {path} cannot be written: {reason}",
        hint=f"{fix}, then apply again: it resumes where it stopped",
    )


def schema_version(db: sqlite3.Connection, path: Path) -> int | None:
    """The schema version the database says it has; None when it names none."""
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise damaged(path, f"its schema version {row[0]!r} is not a number") from None


def is_blank(db: sqlite3.Connection) -> bool:
    """No step records and no schema version: what a killed creation leaves (nothing in it
    to lose)."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "steps" in tables and db.execute("SELECT 1 FROM steps LIMIT 1").fetchone():
        return False
    versioned = "meta" in tables and db.execute(
        "SELECT 1 FROM meta WHERE key='schema_version'").fetchone()
    return not versioned


def verify(db: sqlite3.Connection, path: Path, *, pages: bool = True) -> int:
    """Refuse a damaged database (truncated, overwritten, a table dropped or altered, a
    version that is not a number); returns its schema version. ``pages``: also run SQLite's
    ``quick_check`` over every page. Raises StateError."""
    try:
        if pages:
            problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise damaged(path, "; ".join(problems[:3]))
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            raise damaged(path, "it has no table meta")
        version = schema_version(db, path)
        if version is None:
            raise damaged(path, "it has no schema version")
        for table, (since, columns) in TABLES.items():
            if version < since:
                continue
            if table not in tables:
                raise damaged(path, f"it has no table {table} (schema version {version})")
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in columns if c not in have]
            if missing:
                raise damaged(path, f"table {table} has no column {', '.join(missing)}")
        return version
    except sqlite3.OperationalError as exc:
        if any(word in str(exc).lower() for word in ("locked", "busy", "unable to open")):
            raise StateError(f"the state database {path} cannot be read: {exc}",
                             hint="stop the other process that has it open (or fix the "
                             "file's permissions), then try again") from None
        raise damaged(path, str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise damaged(path, str(exc)) from None


def create(path: Path, script: str, meta: dict[str, str]) -> None:
    """Build a new state at ``path`` (replacing a blank one): ``script`` (the schema) and the
    ``meta`` rows in a temporary file, fsync'ed, then renamed into place. A failure or a kill
    leaves ``path`` as it was. Raises StateError when the folder cannot be written."""
    temporary = path.with_name(path.name + CREATING)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (temporary, *_companions(temporary)):
            leftover.unlink(missing_ok=True)
        db = sqlite3.connect(temporary, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN")
            for statement in _statements(script):
                db.execute(statement)
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           list(meta.items()))
            db.execute("COMMIT")
        finally:
            db.close()
        _fsync(temporary)
        for companion in _companions(path):  # a blank state's log must not meet the new file
            companion.unlink(missing_ok=True)
        os.replace(temporary, path)
        _fsync(path.parent)
    except (OSError, sqlite3.Error) as exc:
        for leftover in (temporary, *_companions(temporary)):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        raise unwritable(path, exc) from None


def _statements(script: str) -> list[str]:
    """The statements of ``script`` one by one (a trigger's body holds semicolons)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s.strip(" ;\n")]


def _companions(path: Path) -> tuple[Path, ...]:
    return tuple(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_owner(path: Path, recorded: tuple[str, str] | None, workflow: str, spec: str) -> None:
    """Refuse (StateError) a state that ``recorded`` says another workflow owns."""
    if recorded is None or recorded[0] == workflow:
        return
    name, other_spec = recorded
    raise StateError(
        f"the state {path} belongs to workflow {name!r}"
        + (f" (spec {other_spec})" if other_spec else "")
        + f", not to {workflow!r} ({spec}): both specs use the same target root",
        hint=f"give each workflow a root of its own: set `root:` of this target in {spec} "
        "(e.g. .bricksmith/" + workflow + "), or apply the spec the state belongs to",
    )
