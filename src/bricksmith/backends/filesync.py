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

import errno
import hashlib
import json
import os
import stat
import time
from pathlib import Path

from bricksmith.errors import DataSyncError
from bricksmith.pathfacts import is_racy, path_kind

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

Manifest = dict[str, dict]
Stamps = dict[str, int]  # folder (relative POSIX path, "" for the root) -> mtime_ns



def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(
    source: Path, previous: Manifest | None = None, within: Path | None = None
) -> Manifest:
    """The manifest of every regular file under ``source`` (in no fixed order); symlinks are
    followed while they stay inside ``within`` (default: ``source``), else refused with a
    :class:`DataSyncError` naming them, as are dangling links and loops. One stat per file; a
    file is read only when its size or mtime differs from ``previous``, whose entry is then
    reused as it is."""
    return scan_stamped(source, previous, within)[0]


def scan_stamped(
    source: Path, previous: Manifest | None = None, within: Path | None = None
) -> tuple[Manifest, Stamps | None]:
    """``scan``, and the stamps of the folders walked (None when one changed too recently for
    its stamp to be trusted)."""
    started = time.time_ns()
    previous = previous or {}
    manifest: Manifest = {}
    stamps: Stamps = {}
    for rel, path, st in _walk(str(source), stamps, str(within or source)):
        old = previous.get(rel)
        if old and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
            manifest[rel] = old
        else:
            sha = file_sha256(Path(path))
            manifest[rel] = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if any(is_racy(mtime, started) for mtime in stamps.values()):
        return manifest, None
    return manifest, stamps


def observe_tree(
    source: Path, within: Path | None = None
) -> tuple[dict[str, tuple[int, int]], Stamps] | None:
    """({relative path: (size, mtime_ns)} of every file, folder stamps) of ``source`` now; None
    when it is missing or a folder or file in it changed too recently to be trusted."""
    started = time.time_ns()
    stamps: Stamps = {}
    try:
        found = _walk(str(source), stamps, str(within or source))
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
            st = os.stat(f"{root}/{rel}") if rel else os.stat(root)
            if st.st_mtime_ns != mtime or not stat.S_ISDIR(st.st_mode):
                return False
        for rel, entry in manifest.items():
            st = os.stat(f"{root}/{rel}")
            if st.st_size != entry["size"] or st.st_mtime_ns != entry["mtime_ns"]:
                return False
    except OSError:
        return False
    return True


def copies_present(folder: str, manifest: Manifest, copies: dict[str, int] | None = None) -> bool:
    """Every file of ``manifest`` is in ``folder`` with its size and, given the ``copies``'
    recorded mtimes, with that mtime (one stat each)."""
    try:
        for rel, entry in manifest.items():
            st = os.stat(f"{folder}/{rel}")
            if st.st_size != entry["size"]:
                return False
            if copies is not None and copies.get(rel) != st.st_mtime_ns:
                return False
    except OSError:
        return False
    return True


def tree_sizes(folder: Path) -> dict[str, int]:
    """{relative POSIX path: size} of every file under ``folder`` ({} when it is missing):
    one pass, one stat per file; symlinks are not followed."""
    return {rel: size for rel, (size, _mtime) in tree_stats(folder).items()}


def tree_stats(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative POSIX path: (size, mtime_ns)} of every file under ``folder`` ({} when it is
    missing): one pass, one stat per file; symlinks are not followed."""
    try:
        return {rel: (st.st_size, st.st_mtime_ns) for rel, _path, st in _walk(str(folder))}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _walk(
    folder: str, stamps: Stamps | None = None, within: str | None = None
) -> list[tuple[str, str, os.stat_result]]:
    """(relative POSIX path, path, stat) of every file under ``folder``, in no fixed order.
    ``stamps`` receives each folder's mtime, taken before the folder is listed.

    With ``within`` (a data source: the project folder), symlinks are followed when their
    target lies inside ``within`` and refused otherwise, as are dangling links, loops and
    entries that are neither files nor folders (:class:`DataSyncError` naming the entry):
    nothing is skipped without a word. Without it (an upload's destination), symlinks are not
    followed and such entries are not files."""
    found = []
    if within is not None and not os.path.lexists(folder):
        raise FileNotFoundError(errno.ENOENT, "no such folder", folder)
    root_real = _real(folder, within) if within is not None else ""
    pending = [(folder, "", frozenset({root_real}), root_real)]
    if stamps is not None:
        stamps[""] = os.stat(folder).st_mtime_ns
    while pending:
        path, prefix, ancestors, path_real = pending.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if within is None:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((entry.path, rel + "/", ancestors, ""))
                        if stamps is not None:
                            stamps[rel] = entry.stat(follow_symlinks=False).st_mtime_ns
                    elif entry.is_file(follow_symlinks=False):
                        found.append((rel, entry.path, entry.stat(follow_symlinks=False)))
                    continue
                link = entry.is_symlink()
                real = _real(entry.path, within) if link else f"{path_real}/{entry.name}"
                try:
                    st = os.stat(entry.path)
                except OSError as exc:
                    raise _entry_error(entry.path, within, exc.strerror or str(exc)) from exc
                if stat.S_ISDIR(st.st_mode):
                    if link and real in ancestors:
                        raise _entry_error(entry.path, within, f"links back to {real}, a loop")
                    pending.append((entry.path, rel + "/", ancestors | {real}, real))
                    if stamps is not None:
                        stamps[rel] = st.st_mtime_ns
                elif stat.S_ISREG(st.st_mode):
                    found.append((rel, entry.path, st))
                else:
                    raise _entry_error(entry.path, within, "is neither a file nor a folder")
    return found


def _real(path: str, within: str) -> str:
    """Where ``path`` leads (symlinks resolved), when that is inside ``within``."""
    try:
        real = os.path.realpath(path, strict=True)
    except FileNotFoundError as exc:
        raise _entry_error(path, within, f"is a dangling link (to {os.readlink(path)})") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _entry_error(path, within, "has too many levels of symbolic links") from exc
        raise _entry_error(path, within, exc.strerror or str(exc)) from exc
    base = os.path.realpath(within)
    if real != base and not real.startswith(base.rstrip("/") + "/"):
        raise _entry_error(
            path, within, f"leads outside the project, to {real}: bricksmith does not upload it"
        )
    return real


def _entry_error(path: str, within: str, problem: str) -> DataSyncError:
    where = os.path.relpath(path, within)
    return DataSyncError(
        f"data source entry {where}: {problem}",
        hint=f"remove or fix {where}: data sources hold files and folders of the project "
        "(symlinks to places inside the project are followed)",
    )


def check_source(source: Path, within: Path) -> list[list] | None:
    """Raise :class:`DataSyncError` naming the first entry of the data folder ``source`` that
    cannot be uploaded (see ``_walk``); no file is read. Returns probes
    (``bricksmith.observations``) of what was walked: ``["dir", path, mtime_ns]`` per folder
    (a ``kind`` probe when ``source`` is missing), or None when a folder changed too recently."""
    if not os.path.lexists(source):
        # the step says so when it runs (the project may not be scaffolded yet)
        return [["kind", str(source), "missing"]]
    started = time.time_ns()
    stamps: Stamps = {}
    _walk(str(source), stamps, str(within))
    if any(is_racy(mtime, started) for mtime in stamps.values()):
        return None
    return [["dir", f"{source}/{rel}" if rel else str(source), m] for rel, m in stamps.items()]


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


def observe(path: str | os.PathLike) -> list | None:
    """A probe (``bricksmith.observations``) of ``path`` as it is now: ``["file", path, size,
    mtime_ns]`` for a file, ``["dir", path, mtime_ns]`` for a folder, else ``["kind", path,
    kind]``; None when it changed too recently to be trusted."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ["kind", str(path), "missing"]
    if is_racy(st.st_mtime_ns, time.time_ns()):
        return None
    if stat.S_ISREG(st.st_mode):
        return ["file", str(path), st.st_size, st.st_mtime_ns]
    if stat.S_ISDIR(st.st_mode):
        return ["dir", str(path), st.st_mtime_ns]
    return ["kind", str(path), path_kind(path)]


def pending_outputs(
    previous: dict, target: str, location: str, old: Manifest, manifest: Manifest
) -> dict:
    """The outputs an upload checkpoints before it changes anything: every file it may write
    or delete (so a resumed upload still deletes, and destroy finds, them), no copy trusted
    without its checksum (``_copies`` empty), no stamps."""
    pending = {k: v for k, v in previous.items() if k != "_stamps"}
    return {**pending, "target": target, "location": location,
            "_manifest": {**old, **manifest}, "_copies": {}}


def changed_files(manifest: Manifest, previous: Manifest) -> tuple[list[str], list[str]]:
    """(files new or changed since ``previous``, files gone since ``previous``)."""
    changed = [
        rel for rel, e in manifest.items() if previous.get(rel, {}).get("sha256") != e["sha256"]
    ]
    removed = [rel for rel in previous if rel not in manifest]
    return changed, removed


def source_drift(
    source: Path, previous: Manifest, stamps: Stamps | None = None, within: Path | None = None
) -> list[str]:
    """Why ``source`` no longer matches the manifest of its last upload ([] when it does).
    With the upload's folder ``stamps``, one stat per folder and file when nothing moved;
    otherwise stat-first, as ``scan``: a file is read only when its size or mtime moved."""
    if unchanged(source, previous, stamps):
        return []
    try:
        manifest = scan(source, previous, within)
    except (FileNotFoundError, NotADirectoryError):
        return [f"data source {source} is missing"]
    changed, removed = changed_files(manifest, previous)
    return [f"source file changed: {rel}" for rel in sorted(changed)[:10]] + [
        f"source file removed: {rel}" for rel in sorted(removed)[:10]
    ]


def clear_moved_target(remove_upload: Callable[[dict[str, Any]], Any], previous: dict[str, Any],
                       target: str, workflow: str | None, log: Callable[[str], None]) -> None:
    """A data target moved to ``target``: remove what ``previous`` (the upload's last
    outputs) put in the old one with ``remove_upload`` (the backend's, returning a Removal),
    unless another workflow wrote it (a state two workflows shared): that is only said."""
    if previous.get("_workflow") not in (None, workflow):
        log(f"the data target moved from {previous['target']} to {target}: left the files "
            f"there, uploaded by workflow {previous['_workflow']!r}")
        return
    removal = remove_upload(previous)
    left = f"; left {len(removal.left)} file(s) bricksmith did not write" if (
        removal.left) else ""
    log(f"the data target moved from {previous['target']} to {target}: removed "
        f"{removal.removed} file(s) uploaded there before{left}")
