"""Incremental folder sync helpers: scan a tree stat-first, hash only what changed.

A manifest maps a relative POSIX path to ``{"sha256", "size", "mtime_ns"}`` of the source file.
A file whose size and mtime match the previous manifest keeps its recorded hash (no read).

Folder stamps let a drift check skip listing folders at all: a folder's mtime moves whenever
an entry in it is added, removed or renamed, so when every folder of a tree still has the
mtime recorded at the last scan and every file its size and mtime, the tree is as scanned —
one stat per folder and per file, no directory reads. As in git's "racy" entries, a stamp
taken within a timestamp tick of a change to that folder cannot tell that change from a later
one in the same tick, so such trees get no stamps (and are always listed).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

from bricksmith.pathfacts import is_racy

Manifest = dict[str, dict]
Stamps = dict[str, int]  # folder (relative POSIX path, "" for the root) -> mtime_ns



def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(source: Path, previous: Manifest | None = None) -> Manifest:
    """The manifest of every regular file under ``source`` (symlinked files followed, symlinked
    folders not entered; in no fixed order). One stat per file; a file is read only when its
    size or mtime differs from ``previous``, whose entry is then reused as it is."""
    return scan_stamped(source, previous)[0]


def scan_stamped(
    source: Path, previous: Manifest | None = None
) -> tuple[Manifest, Stamps | None]:
    """``scan``, and the stamps of the folders walked (None when one changed too recently for
    its stamp to be trusted)."""
    started = time.time_ns()
    previous = previous or {}
    manifest: Manifest = {}
    stamps: Stamps = {}
    for rel, path, st in _walk(str(source), stamps):
        old = previous.get(rel)
        if old and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
            manifest[rel] = old
        else:
            sha = file_sha256(Path(path))
            manifest[rel] = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if any(is_racy(mtime, started) for mtime in stamps.values()):
        return manifest, None
    return manifest, stamps


def observe_tree(source: Path) -> tuple[dict[str, tuple[int, int]], Stamps] | None:
    """({relative path: (size, mtime_ns)} of every file, folder stamps) of ``source`` now; None
    when it is missing or a folder or file in it changed too recently to be trusted."""
    started = time.time_ns()
    stamps: Stamps = {}
    try:
        found = _walk(str(source), stamps)
    except (FileNotFoundError, NotADirectoryError):
        return None
    files = {rel: (st.st_size, st.st_mtime_ns) for rel, _path, st in found}
    mtimes = [*stamps.values(), *(mtime for _size, mtime in files.values())]
    if any(is_racy(mtime, started) for mtime in mtimes):
        return None
    return files, stamps


def unchanged(source: Path, manifest: Manifest, stamps: Stamps | None) -> bool:
    """True when ``source`` is still as scanned into ``manifest`` with ``stamps``: each folder
    has its mtime (no entry added, removed or renamed) and each file its size and mtime. One
    stat each. False means "look closer" (``source_drift``), not that something changed."""
    if not stamps:
        return False
    root = str(source)
    try:
        for rel, mtime in stamps.items():
            st = os.lstat(f"{root}/{rel}") if rel else os.stat(root)
            if st.st_mtime_ns != mtime or not stat.S_ISDIR(st.st_mode):
                return False
        for rel, entry in manifest.items():
            st = os.stat(f"{root}/{rel}")
            if st.st_size != entry["size"] or st.st_mtime_ns != entry["mtime_ns"]:
                return False
    except OSError:
        return False
    return True


def copies_present(folder: str, manifest: Manifest) -> bool:
    """Every file of ``manifest`` is in ``folder`` with its size (one stat each)."""
    try:
        return all(
            os.stat(f"{folder}/{rel}").st_size == entry["size"]
            for rel, entry in manifest.items()
        )
    except OSError:
        return False


def tree_sizes(folder: Path) -> dict[str, int]:
    """{relative POSIX path: size} of every file under ``folder`` ({} when it is missing):
    one pass, one stat per file."""
    try:
        return {rel: st.st_size for rel, _path, st in _walk(str(folder))}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _walk(folder: str, stamps: Stamps | None = None) -> list[tuple[str, str, os.stat_result]]:
    """(relative POSIX path, path, stat) of every file under ``folder``, in no fixed order.
    ``stamps`` receives each folder's mtime, taken before the folder is listed."""
    found = []
    pending = [(folder, "")]
    if stamps is not None:
        stamps[""] = os.stat(folder).st_mtime_ns
    while pending:
        path, prefix = pending.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{prefix}{entry.name}/"))
                    if stamps is not None:
                        stamps[prefix + entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
                elif entry.is_file():
                    found.append((prefix + entry.name, entry.path, entry.stat()))
    return found


def content_digest(
    manifest: Manifest, previous: Manifest | None = None, previous_digest: str | None = None
) -> str:
    """A digest of what the files contain (paths and hashes), not of when they were touched.
    ``previous_digest`` (of ``previous``) is reused when no file's content changed."""
    if (
        previous_digest
        and previous is not None
        and len(previous) == len(manifest)
        and all(previous.get(rel, {}).get("sha256") == e["sha256"] for rel, e in manifest.items())
    ):
        return previous_digest
    canonical = json.dumps({rel: e["sha256"] for rel, e in sorted(manifest.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()


def changed_files(manifest: Manifest, previous: Manifest) -> tuple[list[str], list[str]]:
    """(files new or changed since ``previous``, files gone since ``previous``)."""
    changed = [
        rel for rel, e in manifest.items() if previous.get(rel, {}).get("sha256") != e["sha256"]
    ]
    removed = [rel for rel in previous if rel not in manifest]
    return changed, removed


def source_drift(source: Path, previous: Manifest, stamps: Stamps | None = None) -> list[str]:
    """Why ``source`` no longer matches the manifest of its last upload ([] when it does).
    With the upload's folder ``stamps``, one stat per folder and file when nothing moved;
    otherwise stat-first, as ``scan``: a file is read only when its size or mtime moved."""
    if unchanged(source, previous, stamps):
        return []
    try:
        manifest = scan(source, previous)
    except (FileNotFoundError, NotADirectoryError):
        return [f"data source {source} is missing"]
    changed, removed = changed_files(manifest, previous)
    return [f"source file changed: {rel}" for rel in sorted(changed)[:10]] + [
        f"source file removed: {rel}" for rel in sorted(removed)[:10]
    ]
