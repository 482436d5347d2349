"""What a path is — folder, file, something else or nothing — and a record of such facts.

Validation looks at the file system (a starter folder, a remote that looks like a host name);
``PathFacts`` keeps what it saw, so that a plan memo can tell later, with one stat each,
whether validating again would see the same.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def path_kind(path: Path | str) -> str:
    """"dir", "file", "other" or "missing" (also when it cannot be looked at): what
    ``is_dir()``, ``is_file()`` and ``exists()`` of ``path`` answer from."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return "missing"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


class PathFacts:
    """The file-system facts the checks relied on, {path: kind}: the same document with the
    same facts gets the same answer (a plan memo re-checks them instead of validating)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def kind(self, path: Path | str) -> str:
        found = path_kind(path)
        self.seen[str(path)] = found
        return found
