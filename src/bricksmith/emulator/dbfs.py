"""DBFS (API 2.0) on ``<root>/dbfs``: ``dbfs:/X`` and ``/X`` are ``<root>/dbfs/X``.

Streaming uploads (``create`` → ``add-block``… → ``close``) write their blocks to a scratch
file that is renamed into place at ``close``: the file appears whole, or not at all. As on
Databricks: a block or a ``put`` of base64 ``contents`` is at most 1 MB
(``MAX_BLOCK_SIZE_EXCEEDED``), a read at most 1 MB (``MAX_READ_SIZE_EXCEEDED``), parent
folders are created as needed, deleting a missing path succeeds, ``move`` refuses an existing
destination (409 ``RESOURCE_ALREADY_EXISTS``). Paths in answers are ``/X`` (no ``dbfs:``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.emulator.paths import Layout, dbfs_path
from bricksmith.emulator.wire import (
    ApiError,
    Request,
    already_exists,
    as_int,
    b64decode,
    b64encode,
    invalid,
    not_found,
)

MAX_BLOCK = 1024 * 1024
DEFAULT_READ = 512 * 1024
HANDLE_IDLE_S = 10 * 60
SETTING = "/api/2.0/settings/types/disable_legacy_dbfs/names/default"
ROOT_DISABLED = (
    "DBFS root is disabled for this workspace (Databricks: 'DBFS root and mounts are "
    "deprecated'); use a Unity Catalog volume, /Volumes/<catalog>/<schema>/<volume>/..."
)


class Dbfs:
    def __init__(
        self,
        layout: Layout,
        *,
        clock: Callable[[], float] = time.monotonic,
        root_disabled: bool = False,
    ) -> None:
        self.layout = layout
        self.clock = clock
        self.root_disabled = root_disabled
        self._lock = threading.RLock()
        self._handles: dict[int, dict[str, Any]] = {}
        self._next_handle = itertools.count(1)

    def routes(self):
        routes = [
            ("POST", "/api/2.0/dbfs/create", self.create),
            ("POST", "/api/2.0/dbfs/add-block", self.add_block),
            ("POST", "/api/2.0/dbfs/close", self.close),
            ("POST", "/api/2.0/dbfs/put", self.put),
            ("GET", "/api/2.0/dbfs/get-status", self.get_status),
            ("GET", "/api/2.0/dbfs/list", self.list),
            ("GET", "/api/2.0/dbfs/read", self.read),
            ("POST", "/api/2.0/dbfs/mkdirs", self.mkdirs),
            ("POST", "/api/2.0/dbfs/delete", self.delete),
            ("POST", "/api/2.0/dbfs/move", self.move),
        ]
        guarded = [(method, path, self._guarded(handler)) for method, path, handler in routes]
        return [*guarded, ("GET", SETTING, self.setting)]

    def setting(self, req: Request) -> dict[str, Any]:
        """The workspace setting itself, as databricks-sdk reads it
        (``w.settings.disable_legacy_dbfs.get()``, ``service/settings.py``)."""
        return {
            "disable_legacy_dbfs": {"value": self.root_disabled},
            "setting_name": "default",
            "etag": "1",
        }

    def _guarded(self, handler: Callable[[Request], dict[str, Any]]):
        def guarded(req: Request) -> dict[str, Any]:
            if self.root_disabled:
                raise ApiError(403, "PERMISSION_DENIED", ROOT_DISABLED)
            return handler(req)

        return guarded

    def _path(self, req: Request, name: str = "path") -> tuple[str, Path]:
        path = dbfs_path(req.required(name))
        return path, self.layout.dbfs_disk(path)

    @staticmethod
    def info(path: str, disk: Path) -> dict[str, Any]:
        stat = disk.stat()
        return {
            "path": path,
            "is_dir": disk.is_dir(),
            "file_size": 0 if disk.is_dir() else stat.st_size,
            "modification_time": int(stat.st_mtime * 1000),
        }

    @staticmethod
    def _missing(path: str) -> ApiError:
        return not_found(f"No file or directory exists on path {path}.")

    def _check_writable(self, path: str, disk: Path, overwrite: bool) -> None:
        if disk.is_dir():
            raise already_exists(
                f"A directory already exists at the input path {path}.", status=400
            )
        if disk.exists() and not overwrite:
            raise already_exists(
                f"A file or directory already exists at the input path {path}.", status=400
            )
        for parent in disk.parents:
            if parent == self.layout.dbfs:
                break
            if parent.is_file():
                raise already_exists(f"Cannot create {path}: a parent is a file.", status=400)

    # -- writing -----------------------------------------------------------------------------

    def create(self, req: Request) -> dict[str, Any]:
        path, disk = self._path(req)
        overwrite = req.flag("overwrite")
        with self._lock:
            self._check_writable(path, disk, overwrite)
            handle = next(self._next_handle)
            self._expire()
            handle = next(self._next_handle)
            self._handles[handle] = {
                "path": path,
                "overwrite": overwrite,
                "tmp": self.layout.scratch_file("dbfs-"),
                "used": self.clock(),
            }
        return {"handle": handle}

    def _expire(self) -> None:
        """Forget the handles idle for 10 minutes or more (and their scratch files)."""
        now = self.clock()
        for handle, found in list(self._handles.items()):
            if now - found["used"] >= HANDLE_IDLE_S:
                Path(found["tmp"]).unlink(missing_ok=True)
                del self._handles[handle]

    def _handle(self, req: Request) -> tuple[int, dict[str, Any]]:
        handle = as_int(req.required("handle"), "handle")
        self._expire()
        found = self._handles.get(handle)
        if found is None:
            raise not_found(f"There is no open stream with handle {handle}.")
        found["used"] = self.clock()
        return handle, found

    def add_block(self, req: Request) -> dict[str, Any]:
        data = b64decode(req.arg("data"), "data")
        if len(data) > MAX_BLOCK:
            raise invalid("The block exceeds the 1 MB limit.", "MAX_BLOCK_SIZE_EXCEEDED")
        with self._lock:
            _, found = self._handle(req)
            with open(found["tmp"], "ab") as out:
                out.write(data)
        return {}

    def close(self, req: Request) -> dict[str, Any]:
        with self._lock:
            handle, found = self._handle(req)
            disk = self.layout.dbfs_disk(found["path"])
            try:
                self._check_writable(found["path"], disk, found["overwrite"])
                disk.parent.mkdir(parents=True, exist_ok=True)
                os.replace(found["tmp"], disk)
            finally:
                Path(found["tmp"]).unlink(missing_ok=True)
                del self._handles[handle]
        return {}

    def put(self, req: Request) -> dict[str, Any]:
        path, disk = self._path(req)
        if req.form is not None and ("file" in req.form or "contents" in req.form):
            data = req.form["file"] if "file" in req.form else req.form["contents"]
        else:
            data = b64decode(req.arg("contents"), "contents")
            if len(data) > MAX_BLOCK:
                raise invalid(
                    "contents exceeds the 1 MB limit: use create, add-block and close",
                    "MAX_BLOCK_SIZE_EXCEEDED",
                )
        with self._lock:
            self._check_writable(path, disk, req.flag("overwrite"))
            self.layout.write_atomically(disk, data)
        return {}

    def mkdirs(self, req: Request) -> dict[str, Any]:
        path, disk = self._path(req)
        with self._lock:
            for parent in [disk, *disk.parents]:
                if parent == self.layout.dbfs:
                    break
                if parent.is_file():
                    raise already_exists(f"Cannot create directory {path}: a file exists there.")
            disk.mkdir(parents=True, exist_ok=True)
        return {}

    def delete(self, req: Request) -> dict[str, Any]:
        path, disk = self._path(req)
        if path == "/":
            raise invalid("Cannot delete the DBFS root.")
        with self._lock:
            if disk.is_dir():
                if any(disk.iterdir()) and not req.flag("recursive"):
                    raise ApiError(
                        400, "IO_ERROR", f"Directory {path} is not empty: delete it recursively."
                    )
                shutil.rmtree(disk)
            elif disk.exists():
                disk.unlink()
        return {}

    def move(self, req: Request) -> dict[str, Any]:
        source, source_disk = self._path(req, "source_path")
        dest, dest_disk = self._path(req, "destination_path")
        with self._lock:
            if not source_disk.exists():
                raise self._missing(source)
            if dest_disk.exists():
                raise already_exists(f"A file or directory already exists at {dest}.")
            if PurePosixPath(dest).is_relative_to(PurePosixPath(source)):
                raise invalid(f"Cannot move {source} into itself ({dest}).")
            dest_disk.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source_disk, dest_disk)
        return {}

    # -- reading -----------------------------------------------------------------------------

    def get_status(self, req: Request) -> dict[str, Any]:
        path, disk = self._path(req)
        if not disk.exists():
            raise self._missing(path)
        return self.info(path, disk)

    def list(self, req: Request) -> dict[str, Any]:
        path, disk = self._path(req)
        if not disk.exists():
            raise self._missing(path)
        if disk.is_file():
            return {"files": [self.info(path, disk)]}
        files = [
            self.info(str(PurePosixPath(path, child.name)), child)
            for child in sorted(disk.iterdir())
        ]
        return {"files": files} if files else {}

    def read(self, req: Request) -> dict[str, Any]:
        path, disk = self._path(req)
        offset = as_int(req.arg("offset"), "offset", 0)
        length = as_int(req.arg("length"), "length", DEFAULT_READ)
        if offset < 0 or length < 0:
            raise invalid("offset and length cannot be negative.")
        if length > MAX_BLOCK:
            raise invalid("length exceeds the 1 MB limit.", "MAX_READ_SIZE_EXCEEDED")
        if not disk.exists():
            raise self._missing(path)
        if disk.is_dir():
            raise invalid(f"{path} is a directory, not a file.")
        with open(disk, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        return {"bytes_read": len(data), "data": b64encode(data)}
