"""Incremental folder sync helpers: scan a tree stat-first, hash only what changed.

A manifest maps a relative POSIX path to ``{"sha256", "size", "mtime_ns"}`` of the source file.
A file whose size and mtime match the previous manifest keeps its recorded hash (no read).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

Manifest = dict[str, dict]


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
    previous = previous or {}
    manifest: Manifest = {}
    for rel, path, st in _walk(str(source)):
        old = previous.get(rel)
        if old and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
            manifest[rel] = old
        else:
            sha = file_sha256(Path(path))
            manifest[rel] = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return manifest


def tree_sizes(folder: Path) -> dict[str, int]:
    """{relative POSIX path: size} of every file under ``folder`` ({} when it is missing):
    one pass, one stat per file."""
    try:
        return {rel: st.st_size for rel, _path, st in _walk(str(folder))}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _walk(folder: str) -> list[tuple[str, str, os.stat_result]]:
    """(relative POSIX path, path, stat) of every file under ``folder``, in no fixed order."""
    found = []
    pending = [(folder, "")]
    while pending:
        path, prefix = pending.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{prefix}{entry.name}/"))
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


def source_drift(source: Path, previous: Manifest) -> list[str]:
    """Why ``source`` no longer matches the manifest of its last upload ([] when it does).
    Stat-first, as ``scan``: a file is read only when its size or mtime moved."""
    try:
        manifest = scan(source, previous)
    except (FileNotFoundError, NotADirectoryError):
        return [f"data source {source} is missing"]
    changed, removed = changed_files(manifest, previous)
    return [f"source file changed: {rel}" for rel in sorted(changed)[:10]] + [
        f"source file removed: {rel}" for rel in sorted(removed)[:10]
    ]
