"""The local backend's DBFS and volumes: data folders copied under the target's root.

An upload's outputs record, per file, the source's manifest entry (``_manifest``: sha256, size,
mtime) and the copy's mtime when it was written (``_copies``). A copy is as uploaded while its
size and mtime are those recorded; where the mtime moved, its content decides (sha256), so a
file changed in place with the same size is drift, and a file merely touched is not.

Copies land whole: each is written to a short temporary name in its folder
(``.<random>.bricksmith-tmp``, which fits any file name up to NAME_MAX), its size checked, then
renamed over the destination. An upload whose target moved removes what the previous upload
wrote at the old target first (as recorded), so files deleted from the project meanwhile never
survive a move and back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bricksmith.atomic import write_text_atomically
from bricksmith.backends import filesync, owners
from bricksmith.backends.base import Removal
from bricksmith.errors import DataSyncError

TMP_SUFFIX = ".bricksmith-tmp"


class LocalData:
    """Upload, drift, probes and removal of data folders; mixed into ``LocalBackend`` (which
    gives ``data_path``, ``_owned`` and ``_prune``)."""

    def upload(
        self,
        source: Path,
        target: str,
        previous: dict[str, Any],
        log: Callable[[str], None],
        *,
        within: Path | None = None,
        checkpoint: Callable[[dict[str, Any]], None] | None = None,
        workflow: str | None = None,
    ) -> dict[str, Any]:
        """Copy ``source`` (symlinks followed inside ``within``, see ``filesync.scan``) to
        ``target``, recorded as ``workflow``'s (``owners``); outputs as described in the module
        docstring. Raises DataSyncError."""
        dest = Path(self.data_path(target))
        if workflow is not None:
            self.check_upload_owner(target, workflow)
        same = previous.get("target") == target
        old = previous.get("_manifest", {}) if same else {}
        old_copies = previous.get("_copies") if same else {}
        manifest, stamps = filesync.scan_stamped(source, old, within)
        if previous.get("target") and not same and previous.get("_manifest"):
            self._clear_moved(previous, target, workflow, log)
        if checkpoint is not None:  # what this upload may write or delete, before it does
            checkpoint(filesync.pending_outputs(previous, target, str(dest), old, manifest))
        if workflow is not None:
            self._write_owner(target, workflow)
        there = filesync.tree_stats(dest)  # one pass over what is already uploaded
        copies: dict[str, int] = {}
        copied = 0
        try:
            for rel, entry in manifest.items():
                held = _copy_holds(dest, rel, entry, old.get(rel), old_copies, there.get(rel))
                if held is None:
                    held = _copy_atomically(source / rel, dest / rel, entry["size"])
                    copied += 1
                copies[rel] = held
            for rel in old:
                if rel not in manifest:
                    (dest / rel).unlink(missing_ok=True)
            for rel in _leftovers(there):  # of a copy killed before its rename
                (dest / rel).unlink(missing_ok=True)
        except OSError as exc:
            raise DataSyncError(
                f"copying {source} to {target} failed: {exc}",
                hint=f"check free space and permissions under {dest}",
            ) from exc
        log(f"uploaded {copied} file(s), {len(manifest) - copied} unchanged, to {target}")
        return {
            "target": target,
            "location": str(dest),
            "files": len(manifest),
            "bytes": sum(e["size"] for e in manifest.values()),
            "digest": filesync.content_digest(manifest, old, previous.get("digest")),
            "_manifest": manifest,
            "_stamps": stamps,
            "_copies": copies,
            "_copied": copied,
        }

    # -- which workflow uploads where (bricksmith.backends.owners) ----------------------------

    def _owner_disk(self, api_path: str) -> Path:
        return Path(self.data_path(api_path if api_path.startswith("/Volumes/")
                                   else "dbfs:" + api_path))

    def check_upload_owner(self, target: str, workflow: str) -> list | None:
        """Refuse (DataSyncError) a target that overlaps another workflow's upload target.
        Probes of what was read: the registry folder (None: it changed too recently)."""
        folder = self._owner_disk(owners.registry(target))
        probe = filesync.observe(folder)
        try:
            texts = [file.read_bytes() for file in folder.glob("*.json")]
        except OSError:
            texts = []
        owners.refuse_others(target, workflow, filter(None, map(owners.parse, texts)))
        return None if probe is None else [probe]

    def _write_owner(self, target: str, workflow: str) -> None:
        file = self._owner_disk(owners.record_path(target))
        text = owners.record(target, workflow)
        with contextlib.suppress(OSError):
            if file.read_text() == text:
                return
        write_text_atomically(file, text, create_folder=True)

    def _drop_owner(self, outputs: dict[str, Any]) -> None:
        file = self._owner_disk(owners.record_path(outputs["target"]))
        with contextlib.suppress(OSError):
            found = owners.parse(file.read_bytes())
            if found and found["workflow"] == outputs.get("_workflow"):
                file.unlink()
                self._prune(file.parent)

    def _clear_moved(self, previous: dict[str, Any], target: str, workflow: str | None,
                     log: Callable[[str], None]) -> None:
        filesync.clear_moved_target(self.remove_upload, previous, target, workflow, log)

    def upload_drift(
        self, source: Path, outputs: dict[str, Any], *, within: Path | None = None
    ) -> list[str]:
        """Why the upload is stale. When the source's folder stamps and every copy's size and
        mtime hold, that is one stat per folder and file (temporary files of an interrupted
        upload are then not looked for: an interrupted upload leaves its step unfinished)."""
        old = outputs.get("_manifest", {})
        stamps, copies = outputs.get("_stamps"), outputs.get("_copies")
        if filesync.unchanged(source, old, stamps) and filesync.copies_present(
            outputs["location"], old, copies
        ):
            return []
        reasons = filesync.source_drift(source, old, None, within)
        if not os.path.isdir(source):
            return reasons
        location = Path(outputs["location"])
        there = filesync.tree_stats(location)
        for rel, entry in old.items():
            if _copy_holds(location, rel, entry, entry, copies, there.get(rel)) is None:
                reasons.append(f"uploaded file missing or changed: {outputs['target']}/{rel}")
                if len(reasons) > 20:
                    break
        leftovers = _leftovers(there)
        if leftovers:
            reasons.append(f"temporary files of an interrupted upload: {', '.join(leftovers[:3])}")
        return reasons

    def upload_probes(
        self, source: Path, outputs: dict[str, Any], *, within: Path | None = None
    ) -> list | None:
        """What ``upload_drift`` relies on: the source's folders and files — as the upload
        stamped them while they are so (one stat each), else as they are now — and each
        copy's size and mtime, observed now (None when one changed too recently)."""
        manifest, root, there = outputs.get("_manifest", {}), str(source), outputs["location"]
        stamps = outputs.get("_stamps")
        if filesync.unchanged(source, manifest, stamps):
            files = {rel: (e["size"], e["mtime_ns"]) for rel, e in manifest.items()}
        else:
            observed = filesync.observe_tree(source, within)
            if observed is None:
                return None
            files, stamps = observed
        if outputs.get("_copies") is None:  # recorded before copies' mtimes were
            copies = [["size", f"{there}/{rel}", e["size"]] for rel, e in manifest.items()]
        else:
            copies = [filesync.observe(f"{there}/{rel}") for rel in manifest]
            if None in copies:
                return None
        return [
            *(["dir", f"{root}/{rel}" if rel else root, mtime] for rel, mtime in stamps.items()),
            *(["file", f"{root}/{rel}", size, mtime] for rel, (size, mtime) in files.items()),
            *copies,
        ]

    # -- destroy ---------------------------------------------------------------------------

    def _upload_files(self, outputs: dict[str, Any]) -> tuple[Path, list[str]]:
        """The destination and the recorded (or temporary) files of the upload there now."""
        dest = self._owned(self.data_path(outputs["target"]), ".")
        there = filesync.tree_sizes(dest)
        ours = [rel for rel in outputs.get("_manifest", {}) if rel in there]
        return dest, ours + _leftovers(there)

    def uploaded_present(self, outputs: dict[str, Any]) -> int:
        return len(self._upload_files(outputs)[1])

    def remove_upload(self, outputs: dict[str, Any]) -> Removal:
        dest, files = self._upload_files(outputs)
        removed = 0
        try:
            for rel in files:
                file = dest / rel
                if not file.parent.resolve().is_relative_to(dest):  # a symlinked folder
                    continue
                file.unlink(missing_ok=True)
                removed += 1
            for folder, _dirs, _files in os.walk(dest, topdown=False):
                with contextlib.suppress(OSError):  # not empty: someone else's files
                    Path(folder).rmdir()
        except OSError as exc:
            raise DataSyncError(
                f"removing the files uploaded to {outputs['target']} failed: {exc}",
                hint=f"check permissions under {dest}",
            ) from exc
        self._prune(dest.parent)
        self._drop_owner(outputs)
        return Removal(removed=removed, left=sorted(filesync.tree_sizes(dest)))


def _leftovers(files: dict) -> list[str]:
    """The temporary files (of copies killed before their rename) among ``files``."""
    return [rel for rel in files if rel.endswith(TMP_SUFFIX)]


def _copy_holds(
    dest: Path, rel: str, entry: dict, was: dict | None, copies: dict | None,
    now: tuple[int, int] | None,
) -> int | None:
    """The mtime of the copy ``dest / rel`` when it holds ``entry``'s content, else None. ``was``:
    the entry last uploaded there; ``copies``: the recorded copies' mtimes (None: recorded by
    an older bricksmith, which kept sizes only; then the size decides)."""
    if not was or was["sha256"] != entry["sha256"] or now is None or now[0] != entry["size"]:
        return None
    recorded = None if copies is None else copies.get(rel)
    if copies is None or recorded == now[1]:
        return now[1]
    try:
        return now[1] if filesync.file_sha256(dest / rel) == entry["sha256"] else None
    except OSError:
        return None


def _copy_atomically(source: Path, dest: Path, size: int) -> int:
    """Copy to a short temporary name beside ``dest``, fsync it, check its size, then rename:
    the file lands whole or not. Returns the copy's mtime (ns)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as handle:  # on disk before the rename makes it the file
            os.fsync(handle.fileno())
        written = os.stat(tmp).st_size
        if written != size:
            raise DataSyncError(
                f"{source} changed while it was copied ({written} bytes, {size} scanned)",
                hint="run apply again once nothing writes to the data folder",
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return os.stat(dest).st_mtime_ns
