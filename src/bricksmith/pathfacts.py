"""What a path is — folder, file, something else or nothing — and a record of such facts;
and when a timestamp is too recent to vouch for a file.

Validation looks at the file system (a starter folder, a remote that looks like a host name);
``PathFacts`` keeps what it saw, so that a plan memo can tell later, with one stat each,
whether validating again would see the same.
"""

from __future__ import annotations

import os
import stat

# How much older than a scan a file's or folder's mtime must be to vouch for it. Linux stamps
# files from a clock that advances in ticks of at most 10 ms; filesystems that keep whole
# seconds only (ext3, FAT, HFS+) show an mtime with no sub-second part and get the coarser
# margin.
_TICK_MARGIN_NS = 20_000_000
_SECONDS_MARGIN_NS = 2_000_000_000


def is_racy(mtime_ns: int, scanned_ns: int) -> bool:
    """A change stamped ``mtime_ns`` is within a timestamp tick of ``scanned_ns``: a later
    change in the same tick could carry the same stamp (git's "racy" index entries)."""
    margin = _SECONDS_MARGIN_NS if mtime_ns % 1_000_000_000 == 0 else _TICK_MARGIN_NS
    return mtime_ns > scanned_ns - margin


def path_kind(path: str | os.PathLike) -> str:
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

    def kind(self, path: str | os.PathLike) -> str:
        found = path_kind(path)
        self.seen[str(path)] = found
        return found
