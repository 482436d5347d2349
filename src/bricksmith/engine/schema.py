"""The state database's schema: version 1's tables, and the forward migrations that take a
database of each older version to ``SCHEMA_VERSION`` (``CREATE``: all of it, for a new file).
"""

from __future__ import annotations

from bricksmith.engine import history

SCHEMA_VERSION = 5

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
    5: history.MIGRATION,  # every execution of a run, kept (bricksmith.engine.history)
}

CREATE = _SCHEMA + "".join(f"{sql};\n" for m in MIGRATIONS.values() for sql in m)
