"""The databricks backend's DBFS and volumes: data folders uploaded through databricks-sdk.

    DBFS dbfs:/X     a file up to 1 MB is one ``put`` (the workspace writes it whole or not at
                     all); a larger one streams (create / add-block / close) to a temporary name
                     ``.bricksmith-tmp-<random>`` in its folder, is verified there — its size,
                     then its content read back and compared by sha256 — and only then moved
                     over the destination. A retried ``add-block`` whose first answer was lost
                     lands twice (DBFS blocks carry no offset): such a copy is deleted and
                     streamed again, at most ``UPLOAD_ATTEMPTS`` times, so no run reads it.
    /Volumes/...     Files API: one PUT of the whole file (atomic, safe to repeat), streamed
                     from the open file; a file over 5 GiB is refused before any PUT.

An upload records each copy's modification time as listed after it (``_copies``, ms); a copy
whose size is recorded but whose time moved is read back and compared by sha256, so a file
changed in place with the same size is drift (and re-uploaded), and one merely rewritten with
the same bytes is not. What a listing says about DBFS: ``file_size`` and ``modification_time``
(ms) (docs.databricks.com/api/workspace/dbfs/list); volumes: ``file_size``, ``last_modified``
(docs.databricks.com/api/workspace/files/listdirectorycontents).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.backends import databricks_http, filesync
from bricksmith.backends import databricks_limits as limits
from bricksmith.backends.databricks_owners import DatabricksOwners
from bricksmith.errors import BackendError, DataSyncError

TMP_MARKER = ".bricksmith-tmp-"  # uploads land under .bricksmith-tmp-<random>, then are moved
BLOCK_SIZE = 1 << 20  # DBFS add-block takes at most 1 MB of data per call
PUT_LIMIT = 1 << 20  # DBFS put takes at most 1 MB of contents: smaller files go in one call
READ_SIZE = 1 << 20  # DBFS read answers at most 1 MB per call
UPLOAD_WORKERS = 32  # concurrent uploads (and listings): each call waits on the network
UPLOAD_ATTEMPTS = 3  # streams of one file before a copy that fails its check is an error

Stats = dict[str, tuple[int, int]]  # relative path -> (size, modification time in ms)


class DatabricksData(DatabricksOwners):
    """Upload and drift of data folders (their removal: ``databricks_data_removal``); mixed
    into ``DatabricksBackend`` (which gives ``client`` and ``errors``)."""

    def data_path(self, target: str) -> str:
        if target.startswith("dbfs:/"):
            return "/dbfs/" + target[len("dbfs:/") :].strip("/")
        if target.startswith("/Volumes/"):
            return target.rstrip("/")
        raise BackendError(
            f"unsupported data target {target!r}", hint="use dbfs:/... or /Volumes/..."
        )

    @staticmethod
    def _api_path(target: str, rel: str = "") -> str:
        base = target[len("dbfs:") :] if target.startswith("dbfs:/") else target
        path = str(PurePosixPath(base.rstrip("/"), rel)) if rel else base.rstrip("/")
        if ".." in PurePosixPath(path).parts:
            raise BackendError(f"path {path!r} escapes its data folder")
        return path

    def _remote_sizes(self, target: str) -> dict[str, int]:
        """{relative path: size} of every file under ``target`` ({} when it does not exist)."""
        return {rel: size for rel, (size, _mtime) in self._remote_tree(target)[0].items()}

    def _remote_tree(self, target: str, known: Iterable[str] = ()) -> tuple[Stats, list[str]]:
        """The files under ``target`` ({relative path: (size, mtime ms)}) and its folders
        (relative paths, parents before children), listed one level at a time, concurrently.
        A DBFS folder holding over 10,000 of the ``known`` files is not listed (it would time
        out): those files are asked for one by one (``databricks_limits``)."""
        root = self._api_path(target)
        known = set(known)
        crowded = set() if target.startswith("/Volumes/") else limits.crowded_folders(known)
        stats: Stats = {}
        folders: list[str] = []
        level = [root]

        def listed(folder: str) -> list[tuple[str, bool, int, int]]:
            rel = str(PurePosixPath(folder).relative_to(root))
            return [] if rel in crowded else self._list(target, folder)

        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            while level:
                below = []
                for entries in pool.map(listed, level):
                    for path, is_dir, size, mtime in entries:
                        path = path.rstrip("/")
                        rel = str(PurePosixPath(path).relative_to(root))
                        if is_dir:
                            below.append(path)
                            folders.append(rel)
                        else:
                            stats[rel] = (size, mtime)
                level = below
        if crowded:
            stats.update(self._stats_by_status(
                target, [rel for rel in known if str(PurePosixPath(rel).parent) in crowded]))
        return stats, folders

    def _stats_by_status(self, target: str, rels: list[str]) -> Stats:
        return limits.dbfs_stats_by_status(
            self.client, lambda rel: self._api_path(target, rel), rels, UPLOAD_WORKERS)

    def _list(self, target: str, folder: str) -> list[tuple[str, bool, int, int]]:
        """(path, is folder, size, mtime ms) of the entries of ``folder`` ([] when missing)."""
        from databricks.sdk import errors as sdk

        try:
            if target.startswith("/Volumes/"):
                return [
                    (e.path, bool(e.is_directory), e.file_size or 0, e.last_modified or 0)
                    for e in self.client.files.list_directory_contents(folder)
                ]
            from databricks.sdk.service.files import DbfsAPI

            # the plain API call: the client's dbfs.list first asks for the folder's status
            listed = DbfsAPI.list(self.client.dbfs, folder)
            return [(e.path, bool(e.is_dir), e.file_size or 0, e.modification_time or 0)
                    for e in listed]
        except sdk.NotFound:
            return []

    def _delete(self, target: str, rel: str) -> None:
        if target.startswith("/Volumes/"):
            self.client.files.delete(self._api_path(target, rel))
        else:
            self.client.dbfs.delete(self._api_path(target, rel))

    def _remote_sha256(self, target: str, rel: str) -> str | None:
        """The sha256 of the remote file (read back in full), None when it is gone."""
        from databricks.sdk import errors as sdk

        path = self._api_path(target, rel)
        digest = hashlib.sha256()
        try:
            if target.startswith("/Volumes/"):
                with self.client.files.download(path).contents as body:
                    for block in iter(lambda: body.read(READ_SIZE), b""):
                        digest.update(block)
                return digest.hexdigest()
            return _dbfs_sha256(self.client.dbfs, path)
        except sdk.NotFound:
            return None

    def _upload_dbfs(self, source: Path, dest: str, entry: dict, *, exists: bool) -> None:
        """Upload so that the file lands whole, as scanned, or not at all (module docstring)."""
        dbfs = self.client.dbfs
        if entry["size"] <= PUT_LIMIT:
            dbfs.put(dest, contents=base64.b64encode(source.read_bytes()).decode(), overwrite=True)
            return
        for _attempt in range(UPLOAD_ATTEMPTS):
            tmp = str(PurePosixPath(dest).with_name(f"{TMP_MARKER}{uuid.uuid4().hex[:12]}"))
            try:
                problem = self._stream_verified(source, tmp, entry)
            except databricks_http.ServerErrorUnconfirmed as exc:
                # a block or the close got a server error after it may have been processed:
                # the stream is a fresh temporary file, so streaming it all again is safe
                problem = str(exc)
            if problem is None:
                self._replace(tmp, dest, exists=exists)
                return
            with contextlib.suppress(Exception):
                dbfs.delete(tmp)
        raise DataSyncError(
            f"uploading {source.name} to dbfs:{dest} failed its check {UPLOAD_ATTEMPTS} times "
            f"(last: {problem}); the old copy, if any, is untouched",
            hint="the network or the workspace corrupts streamed uploads; apply again later",
        )

    def _stream_verified(self, source: Path, tmp: str, entry: dict) -> str | None:
        """Stream ``source`` to ``tmp`` and check it: None when it holds what was scanned,
        else what is wrong with it."""
        dbfs = self.client.dbfs
        handle = dbfs.create(tmp, overwrite=True).handle
        sent = hashlib.sha256()
        with source.open("rb") as data:
            for block in iter(lambda: data.read(BLOCK_SIZE), b""):
                sent.update(block)
                dbfs.add_block(handle, base64.b64encode(block).decode())
        dbfs.close(handle)
        if sent.hexdigest() != entry["sha256"]:
            return "the source file changed while it was uploaded"
        size = dbfs.get_status(tmp).file_size or 0
        if size != entry["size"]:
            return f"{size} bytes arrived, {entry['size']} were sent"
        if _dbfs_sha256(dbfs, tmp) != entry["sha256"]:
            return "the bytes that arrived differ from those sent"
        return None

    def _replace(self, tmp: str, dest: str, *, exists: bool) -> None:
        """Move ``tmp`` over ``dest`` (move refuses an existing target: the old file stays
        whole until it is deleted here)."""
        from databricks.sdk import errors as sdk

        dbfs = self.client.dbfs
        if exists:
            with contextlib.suppress(sdk.NotFound):
                dbfs.delete(dest)
        try:
            dbfs.move(tmp, dest)
        except sdk.ResourceAlreadyExists:  # appeared since the listing
            dbfs.delete(dest)
            dbfs.move(tmp, dest)

    def _upload_volume(self, source: Path, dest: str, entry: dict, *, exists: bool) -> None:
        limits.upload_volume_file(self.client, source, dest)  # streamed, at most 5 GiB

    def _copy_holds(self, target: str, rel: str, entry: dict, was: dict | None,
                    copies: dict | None, now: tuple[int, int] | None) -> bool:
        """Whether the remote copy holds ``entry``'s content: recorded as uploaded (``was``),
        the same size, and the same modification time — or, where the time moved, the same
        sha256 read back. ``copies`` None: recorded by an older bricksmith (sizes only)."""
        if not was or was["sha256"] != entry["sha256"] or now is None or now[0] != entry["size"]:
            return False
        if copies is None or copies.get(rel) == now[1]:
            return True
        return self._remote_sha256(target, rel) == entry["sha256"]

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
        if workflow is not None:
            self.check_upload_owner(target, workflow)
        same = previous.get("target") == target
        old = previous.get("_manifest", {}) if same else {}
        old_copies = previous.get("_copies") if same else {}
        manifest, stamps = filesync.scan_stamped(source, old, within)
        if previous.get("target") and not same and previous.get("_manifest"):
            self._clear_moved(previous, target, workflow, log)
        if checkpoint is not None:  # what this upload may write or delete, before it does
            checkpoint(filesync.pending_outputs(
                previous, target, self.data_path(target), old, manifest))
        with self.errors(f"upload data to {target}"):
            if workflow is not None:
                self._write_owner(target, workflow, log)
            there = self._remote_tree(target, set(manifest) | set(old))[0]
            # temporary files of an upload that was killed before its move: never data
            for rel in [rel for rel in there if TMP_MARKER in rel]:
                self._delete(target, rel)
                del there[rel]
            put = self._upload_volume if target.startswith("/Volumes/") else self._upload_dbfs
            with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
                def holds(rel: str) -> bool:
                    return self._copy_holds(target, rel, manifest[rel], old.get(rel),
                                            old_copies, there.get(rel))

                todo = [rel for rel, ok in zip(manifest, pool.map(holds, manifest),
                                               strict=True) if not ok]
                if target.startswith("/Volumes/"):  # refused before anything is sent
                    limits.check_volume_sizes(
                        source, todo, {rel: manifest[rel]["size"] for rel in todo}, target)
                for future in [
                    pool.submit(put, source / rel, self._api_path(target, rel), manifest[rel],
                                exists=rel in there)
                    for rel in todo
                ]:
                    future.result()
                listed = self._relisted(target, todo, there, pool)
            for rel in todo:  # every write, checked by its size as the workspace lists it
                if listed.get(rel, (None, 0))[0] != manifest[rel]["size"]:
                    raise DataSyncError(
                        f"{target}/{rel} holds {listed.get(rel, (0, 0))[0]} bytes after its "
                        f"upload, not {manifest[rel]['size']}",
                        hint="apply again: the upload is repeated (the workspace or the "
                        "network lost or changed part of it)",
                    )
            for rel in old:
                if rel not in manifest and rel in there:
                    self._delete(target, rel)
        log(f"uploaded {len(todo)} file(s), {len(manifest) - len(todo)} unchanged, to {target}")
        return {
            "target": target,
            "location": self.data_path(target),
            "files": len(manifest),
            "bytes": sum(e["size"] for e in manifest.values()),
            "digest": filesync.content_digest(manifest, old, previous.get("digest")),
            "_manifest": manifest,
            "_stamps": stamps,
            "_copies": {rel: listed[rel][1] for rel in manifest if rel in listed},
            "_copied": len(todo),
        }

    def _relisted(self, target: str, written: list[str], there: Stats, pool) -> Stats:
        """``there`` with the files ``written`` as listed now (their new modification times):
        one listing per folder they are in."""
        root = PurePosixPath(self._api_path(target))
        crowded = set() if target.startswith("/Volumes/") else limits.crowded_folders(
            set(there) | set(written))
        folders = sorted({str(PurePosixPath(self._api_path(target, rel)).parent)
                          for rel in written if str(PurePosixPath(rel).parent) not in crowded})
        listed = dict(there)
        if crowded:  # a DBFS folder too big to list: each written file by get-status
            listed.update(self._stats_by_status(
                target, [rel for rel in written if str(PurePosixPath(rel).parent) in crowded]))
        for entries in pool.map(lambda folder: self._list(target, folder), folders):
            for path, is_dir, size, mtime in entries:
                if not is_dir:
                    listed[str(PurePosixPath(path.rstrip("/")).relative_to(root))] = (size, mtime)
        return listed

    def upload_drift(
        self, source: Path, outputs: dict[str, Any], *, within: Path | None = None
    ) -> list[str]:
        old = outputs.get("_manifest", {})
        reasons = filesync.source_drift(source, old, outputs.get("_stamps"), within)
        if not source.is_dir():
            return reasons
        target, copies = outputs["target"], outputs.get("_copies")
        with self.errors(f"list {target}"):
            there = self._remote_tree(target, old)[0]
            for rel, entry in old.items():
                if not self._copy_holds(target, rel, entry, entry, copies, there.get(rel)):
                    reasons.append(f"uploaded file missing or changed: {target}/{rel}")
                    if len(reasons) > 20:
                        break
        leftovers = [rel for rel in there if TMP_MARKER in rel]
        if leftovers:
            reasons.append(f"temporary files of an interrupted upload: {', '.join(leftovers[:3])}")
        return reasons

    def _clear_moved(self, previous: dict[str, Any], target: str, workflow: str | None,
                     log: Callable[[str], None]) -> None:
        filesync.clear_moved_target(self.remove_upload, previous, target, workflow, log)

    # what the workspace holds is known only by asking it: no probe stands for this check
    def upload_probes(
        self, source: Path, outputs: dict[str, Any], *, within: Path | None = None
    ) -> None:
        return None


def _dbfs_sha256(dbfs, path: str) -> str:
    """The sha256 of a DBFS file, read back 1 MB at a time."""
    from databricks.sdk.service.files import DbfsAPI

    digest = hashlib.sha256()
    offset = 0
    while True:
        answer = DbfsAPI.read(dbfs, path, length=READ_SIZE, offset=offset)
        block = base64.b64decode(answer.data or "")
        if not block:
            return digest.hexdigest()
        digest.update(block)
        offset += len(block)
