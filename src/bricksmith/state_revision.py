"""Which content of a state database's steps table this is: (generation, revision).

Schema version 4 gives each database a random generation and a revision that every change to
``steps`` moves (triggers, so no writer can forget); equal pairs mean equal steps. Read on its
own, without opening a store, by a plan memo's replay, which also asks whether the file is
still sound (``sound``) when it changed since the memo was written (``signature``). At the
bottom, owned by no layer, so that the memo reads it without importing the engine.
"""

from __future__ import annotations

import os
import sqlite3

# the tables (and the columns of each) that a database of each schema version has
TABLES: dict[str, tuple[int, tuple[str, ...]]] = {
    "meta": (1, ("key", "value")),
    "steps": (1, ("key", "fingerprint", "status", "inputs", "outputs", "started_at",
                  "finished_at", "attempt", "error")),
    "applies": (2, ("id", "started_at", "finished_at", "status", "holder")),
    "checked": (3, ("key", "at")),
    "executions": (5, ("id", "step", "status", "started_at", "finished_at", "entry")),
}


def read_revision(path: str | os.PathLike, *, check: bool = False) -> tuple[str, int] | None:
    """(generation, revision) of the database at ``path``; None when it cannot tell (missing,
    damaged, or older than schema version 4). ``check``: None too unless ``sound``."""
    try:
        db = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        if check and not sound(db):
            return None
        return revision_of(db)
    except (sqlite3.Error, ValueError):
        return None
    finally:
        db.close()


def revision_of(db: sqlite3.Connection) -> tuple[str, int] | None:
    rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'revision')"))
    if len(rows) != 2:
        return None
    return rows["generation"], int(rows["revision"])


def sound(db: sqlite3.Connection) -> bool:
    """Every page passes SQLite's quick_check and every table and column of its schema
    version is there (what opening a store checks, without the messages)."""
    try:
        if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
            return False
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0])
        for table, (since, columns) in TABLES.items():
            if version >= since:
                have = {info[1] for info in db.execute(f"PRAGMA table_info({table})")}
                if not set(columns) <= have:
                    return False
        return True
    except (sqlite3.Error, TypeError, ValueError):
        return False


def signature(path: str | os.PathLike) -> list[list[int]]:
    """(size, modification time in ns, inode) of the database and of its write-ahead log
    ([] for a missing file): equal signatures mean the file was not written in between."""
    out = []
    for name in (os.fspath(path), f"{os.fspath(path)}-wal"):
        try:
            st = os.stat(name)
            out.append([st.st_size, st.st_mtime_ns, st.st_ino])
        except OSError:
            out.append([])
    return out
