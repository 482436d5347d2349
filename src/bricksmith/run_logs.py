"""One log file per execution of a run, and the latest one where it always was.

Layout under a target's ``logs/runs/`` (why: the run history keeps each execution's log path,
so an execution's log must never be written over by the next; and ``logs/runs/NAME.log`` is
the path the README, the hints and people's habits already use, so it stays the way to the
latest):

- ``NAME/<UTC start, 20261130T185330Z>.log``: one execution's log (``-2``, ``-3``... when two
  start within a second);
- ``NAME.log``: a symbolic link to the latest execution's file, made when it starts (so
  ``tail -f logs/runs/NAME.log`` follows a run in progress); a hard link where symbolic links
  cannot be made; left alone when it is a file of the user's own.

A log of the layout before this one (every execution appended to ``NAME.log``) is moved to
``NAME/earlier-executions.log`` the first time, never deleted. Everything made here is noted
in ``bricksmith.made`` as it is made, so ``destroy`` removes it and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bricksmith.made import Made

EARLIER = "earlier-executions.log"


def execution_log(root: Path, logs_dir: Path, name: str, previous: Mapping[str, Any],
                  fingerprint: str) -> Path:
    """The log file of run ``name``'s execution about to start (created empty, noted), or of
    the one a killed apply left in flight with this ``fingerprint`` (``previous`` is the
    step's checkpoint: ``_pending``, ``_log``, ``_fingerprint``), which the backend then
    re-attaches to or adopts. ``logs/runs/NAME.log`` points at it on return."""
    made = Made(root)
    folder = Path(logs_dir) / "runs" / name
    kept = previous.get("_log")
    if (previous.get("_pending") and kept and previous.get("_fingerprint") == fingerprint
            and Path(kept).parent == folder and Path(kept).is_file()):
        path = Path(kept)
    else:
        made.folder(folder)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path, n = folder / f"{stamp}.log", 1
        while True:
            try:
                with open(path, "x", encoding="utf-8"):
                    pass
                break
            except FileExistsError:
                n += 1
                path = folder / f"{stamp}-{n}.log"
        made.note(path)
    point_latest(made, Path(logs_dir) / "runs" / f"{name}.log", path)
    return path


def point_latest(made: Made, latest: Path, target: Path) -> bool:
    """Make ``latest`` a link to ``target`` (relative, replaced atomically). A regular file
    there that bricksmith made (the earlier layout) is moved into ``target``'s folder first;
    one bricksmith did not make is left alone (False)."""
    if latest.is_symlink() or not latest.exists():
        pass
    elif made.owns(latest) and latest.is_file() and latest.stat().st_nlink == 1:
        kept, n = target.parent / EARLIER, 1
        while kept.exists():  # never over another kept log
            n += 1
            kept = target.parent / f"{Path(EARLIER).stem}-{n}.log"
        os.replace(latest, kept)
        made.note(kept)
    elif not made.owns(latest):
        return False
    temporary = latest.with_name(f".{latest.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.symlink(os.path.relpath(target, latest.parent), temporary)
    except OSError:
        try:
            os.link(target, temporary)
        except OSError:
            return False
    os.replace(temporary, latest)
    made.note(latest)
    return True
