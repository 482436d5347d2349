"""Edits made in a workspace Git folder: each file changed, added or removed there since the
commit it was checked out at, with a unified diff against that commit.

The guide has users edit ``conf/base/parameters.yml`` or a node in the Git folder's editor and
then "commit your changes in your Databricks Repo, push them". bricksmith shows such edits in
``plan``, refuses to overwrite them in ``apply`` and brings them home with ``pull``
(:mod:`bricksmith.pull`). What runs write into the folder is not an edit
(:data:`bricksmith.backends.git_folder.RUN_OUTPUTS`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from bricksmith.backends.git import read_git
from bricksmith.backends.git_folder import _blob, _read, foreign_files
from bricksmith.errors import GitError

MODIFIED, ADDED, REMOVED = "modified", "added", "removed"
MAX_DIFF_BYTES = 1_000_000  # a larger file is named, its diff not computed


def unified_diff(path: str, old: bytes | None, new: bytes | None) -> str:
    """A ``git diff``-style unified diff of ``path`` from ``old`` to ``new`` (None: absent);
    binary or very large files get one line saying so."""
    if old == new:
        return ""
    sides = [b"" if side is None else side for side in (old, new)]
    if any(len(side) > MAX_DIFF_BYTES for side in sides):
        return f"{path}: too large to show a diff\n"
    try:
        before, after = (side.decode("utf-8") for side in sides)
    except UnicodeDecodeError:
        return f"Binary file {path} differs\n"
    if "\0" in before or "\0" in after:
        return f"Binary file {path} differs\n"
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{path}",
        tofile="/dev/null" if new is None else f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def folder_edits(dest: Path) -> list[dict[str, Any]]:
    """Each file of the Git folder clone at ``dest`` that differs from its HEAD commit:
    ``{"path": POSIX path in the repo, "change": "modified"|"added"|"removed",
    "diff": unified diff text, "base": the HEAD commit}``, sorted by path; [] when the folder
    is not a clone or holds no edits. Raises :class:`GitError` when git cannot read it."""
    if not (dest / ".git").exists():
        return []
    try:
        head = read_git(["rev-parse", "--verify", "-q", "HEAD"], cwd=dest,
                        action="rev-parse").strip()
        tracked = read_git(["diff", "--name-status", "--no-renames", "-z", "HEAD", "--"],
                           cwd=dest, action="diff")
    except GitError:
        return []
    fields = [f for f in tracked.split("\0") if f]
    changes = {path: (REMOVED if status == "D" else MODIFIED)
               for status, path in zip(fields[::2], fields[1::2], strict=False)}
    for path in foreign_files(dest):
        changes.setdefault(path, ADDED)
    edits = []
    for path in sorted(changes):
        old = None if changes[path] == ADDED else _blob(dest, head, path)
        new = None if changes[path] == REMOVED else _read(dest / path)
        diff = unified_diff(path, old, new)
        if not diff:  # e.g. a file touched and saved unchanged
            continue
        edits.append({"path": path, "change": changes[path], "diff": diff, "base": head})
    return edits


def describe_edits(edits: list[dict[str, Any]], limit: int = 5) -> str:
    """``conf/base/parameters.yml (modified), src/x.py (added)`` (the first ``limit``)."""
    shown = [f"{e['path']} ({e['change']})" for e in edits[:limit]]
    more = f" ... ({len(edits)} in all)" if len(edits) > limit else ""
    return ", ".join(shown) + more
