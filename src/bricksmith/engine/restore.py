"""``bricksmith state restore``: put the latest good copy of a state back, saying what it costs.

Every apply copies the state beside it (``state.db.bak``) when it starts and again when it
ends, so the copy is the state as the last apply left it, unless that apply was killed: then it
is the state as that apply found it, and whatever it did since is unknown to the copy. The
restore compares the copy with the state it replaces (when that can still be read) and lists
the steps whose work the copy does not know: the next apply does them again, which for a run
means the notebook runs (a job run is submitted) again.
"""

from __future__ import annotations

import os
import sqlite3
from collections import namedtuple
from datetime import datetime, timezone
from pathlib import Path

from bricksmith.atomic import copy_atomically
from bricksmith.engine.statefile import verify
from bricksmith.errors import StateError
from bricksmith.records import backup_path
from bricksmith.statuses import SUCCEEDED

# aside: where the replaced file went; taken: when the copy was made; repeated: (step, why)
# for each step the next apply will do again; unknown: the replaced state could not be read
Restored = namedtuple("Restored", "aside taken repeated unknown")


def restore(path: Path) -> Restored:
    """Put the copy ``state.db.bak`` back in place of ``path`` (damaged or not); the replaced
    file is kept beside it. Raises StateError when there is no copy or it is damaged too."""
    backup = backup_path(path)
    if not backup.exists():
        raise StateError(f"there is no backup of {path} to restore ({backup.name} is missing)",
                         hint=f"move {path.name} aside to start from an empty state")
    copied = _rows(backup)
    if copied is None:
        raise StateError(f"the backup {backup} is damaged too", hint="move both files aside")
    taken, saved = copied
    current = _rows(path) if path.exists() else (None, {})
    repeated = _repeated(saved, current[1] if current else None)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.replaced-{stamp}")
    if path.exists():
        os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    copy_atomically(backup, path, suffix=".restore-tmp", hidden=False, unique=False)
    return Restored(aside, taken, repeated, current is None)


def describe(path: Path, restored: Restored) -> str:
    """What ``restore`` did and what the next apply will do again, for the user."""
    lines = [f"restored {path} from {backup_path(path).name}, the copy taken {restored.taken}"]
    if restored.aside.exists():
        lines.append(f"the replaced file is {restored.aside.name}")
    if restored.unknown:
        lines.append("the replaced state could not be read: what the applies after the copy "
                     "did is not known to it, and the next apply does it again")
    if restored.repeated:
        lines.append(f"the restored state does not know {len(restored.repeated)} step(s) "
                     "that the next apply will do again:")
        lines.extend(f"  {step}: {why}" for step, why in restored.repeated)
    elif not restored.unknown:
        lines.append("the restored state knows everything the replaced one did: the next "
                     "apply repeats nothing")
    return "\n".join(lines)


def _rows(path: Path) -> tuple[str, dict[str, tuple]] | None:
    """(when the copy was taken, {step: (status, fingerprint, outputs)}) of a sound state;
    None when it cannot be read."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        verify(db, path)
        meta = dict(db.execute("SELECT key, value FROM meta"))
        rows = {key: (status, fp, outputs) for key, status, fp, outputs in
                db.execute("SELECT key, status, fingerprint, outputs FROM steps")}
        return meta.get("backup_taken", "at the start of an apply"), rows
    except (sqlite3.Error, StateError):
        return None
    finally:
        db.close()


def _repeated(saved: dict[str, tuple], current: dict[str, tuple] | None) -> list[tuple[str, str]]:
    """(step, why) for each step whose result the replaced state holds and the copy does not
    (when the replaced state is unknown: each step the copy does not hold as done)."""
    out = []
    for key in sorted(set(saved) | set(current or {})):
        old = saved.get(key)
        verb = "runs again (a new job run or notebook execution)" if key.startswith("run.") \
            else "is applied again"
        if current is None:
            if old[0] != SUCCEEDED:
                out.append((key, f"{old[0]} in the copy: it {verb}"))
            continue
        new = current.get(key)
        if new is None or new[0] != SUCCEEDED or (old and old[:2] == new[:2]):
            continue  # the replaced state holds no result the copy lacks (same fingerprint)
        if old is None or old[0] != SUCCEEDED:
            out.append((key, f"done after the copy was taken: it {verb}"))
        else:
            out.append((key, f"the copy holds an older result: it {verb}"))
    return out
