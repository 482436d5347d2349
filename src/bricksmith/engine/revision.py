"""Which content of a state database's steps table this is: (generation, revision).

Schema version 4 gives each database a random generation and a revision that every change to
``steps`` moves (triggers, so no writer can forget); equal pairs mean equal steps. Read on its
own, without opening a store, by a plan memo's replay.
"""

from __future__ import annotations

import os
import sqlite3


def read_revision(path: str | os.PathLike) -> tuple[str, int] | None:
    """(generation, revision) of the database at ``path``; None when it cannot tell (missing,
    damaged, or older than schema version 4). No integrity or version check."""
    try:
        db = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return revision_of(db)
    except sqlite3.Error:
        return None
    finally:
        db.close()


def revision_of(db: sqlite3.Connection) -> tuple[str, int] | None:
    rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'revision')"))
    if len(rows) != 2:
        return None
    return rows["generation"], int(rows["revision"])
