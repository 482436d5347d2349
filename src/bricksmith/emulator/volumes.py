"""The Files API (``/api/2.0/fs/files`` and ``/fs/directories``) for Unity Catalog volumes.

``/Volumes/<catalog>/<schema>/<volume>/...`` is ``<root>/Volumes/<catalog>/<schema>/<volume>/
...``. Uploads are one ``PUT`` of the raw bytes (what ``FilesAPI.upload`` sends), written to a
scratch file and renamed into place; ``overwrite`` defaults to true; parent folders are created.
Downloads answer the raw bytes with Content-Length, Content-Type and Last-Modified, and honour a
single ``Range: bytes=a-b``. Listings give directories a trailing ``/``, as Databricks does.

Volumes: by default every ``/Volumes/c/s/v`` exists; given ``volumes=["c.s.v", ...]``, only
those do (others answer 404, like a volume that was never created).
"""

from __future__ import annotations

import email.utils
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.emulator.paths import Layout, clean, volume_parts
from bricksmith.emulator.wire import (
    ApiError,
    Request,
    Response,
    already_exists,
    as_int,
    invalid,
    not_found,
)

MAX_PAGE = 1000


class Volumes:
    def __init__(self, layout: Layout, volumes: Iterable[str] | None = None) -> None:
        self.layout = layout
        self.volumes = None if volumes is None else {tuple(v.split(".")) for v in volumes}
        self._lock = threading.RLock()

    def routes(self):
        files, folders = "/api/2.0/fs/files{path*}", "/api/2.0/fs/directories{path*}"
        return [
            ("PUT", files, self.upload),
            ("GET", files, self.download),
            ("HEAD", files, self.metadata),
            ("DELETE", files, self.delete),
            ("PUT", folders, self.create_directory),
            ("GET", folders, self.list_directory),
            ("HEAD", folders, self.directory_metadata),
            ("DELETE", folders, self.delete_directory),
        ]

    def _disk(self, req: Request) -> tuple[str, Path]:
        path = clean(req.params["path"] or "/")
        parts = volume_parts(path)
        if self.volumes is not None and tuple(parts[1:4]) not in self.volumes:
            raise not_found(f"Volume {'.'.join(parts[1:4])} does not exist.", "NOT_FOUND")
        return path, self.layout.volume_disk(path)

    @staticmethod
    def _file_missing() -> ApiError:
        return not_found("The file being accessed is not found.", "NOT_FOUND")

    @staticmethod
    def _folder_missing() -> ApiError:
        return not_found("The directory being accessed is not found.", "NOT_FOUND")

    @staticmethod
    def _headers(disk: Path, size: int) -> dict[str, str]:
        return {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "Last-Modified": email.utils.formatdate(disk.stat().st_mtime, usegmt=True),
        }

    # -- files -------------------------------------------------------------------------------

    def upload(self, req: Request) -> dict[str, Any]:
        path, disk = self._disk(req)
        overwrite = req.flag("overwrite", default=True)
        with self._lock:
            if disk.is_dir():
                raise already_exists(f"{path} is a directory.", "ALREADY_EXISTS")
            if disk.exists() and not overwrite:
                raise already_exists("The file being created already exists.", "ALREADY_EXISTS")
            for parent in disk.parents:
                if parent == self.layout.volumes:
                    break
                if parent.is_file():
                    raise already_exists(
                        f"Cannot create {path}: a parent is a file.", "ALREADY_EXISTS"
                    )
            self.layout.write_atomically(disk, req.body)
        return {}

    def download(self, req: Request) -> Response:
        _, disk = self._disk(req)
        if not disk.is_file():
            raise self._file_missing()
        data = disk.read_bytes()
        wanted = req.headers.get("range", "")
        if wanted.startswith("bytes=") and "," not in wanted:
            first, _, last = wanted[len("bytes=") :].partition("-")
            start = int(first) if first else max(len(data) - int(last or 0), 0)
            end = int(last) if first and last else len(data) - 1
            if start >= len(data) or end < start:
                return Response(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            part = data[start : end + 1]
            headers = self._headers(disk, len(part))
            headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
            return Response(206, part, headers)
        return Response(200, data, self._headers(disk, len(data)))

    def metadata(self, req: Request) -> Response:
        _, disk = self._disk(req)
        if not disk.is_file():
            raise self._file_missing()
        return Response(200, b"", self._headers(disk, disk.stat().st_size))

    def delete(self, req: Request) -> dict[str, Any]:
        path, disk = self._disk(req)
        with self._lock:
            if disk.is_dir():
                raise invalid(f"{path} is a directory: delete it with the directories endpoint.")
            if not disk.is_file():
                raise self._file_missing()
            disk.unlink()
        return {}

    # -- directories -------------------------------------------------------------------------

    def create_directory(self, req: Request) -> dict[str, Any]:
        path, disk = self._disk(req)
        with self._lock:
            for folder in [disk, *disk.parents]:
                if folder == self.layout.volumes:
                    break
                if folder.is_file():
                    raise already_exists(
                        f"Cannot create {path}: a file exists there.", "ALREADY_EXISTS"
                    )
            disk.mkdir(parents=True, exist_ok=True)
        return {}

    def _folder(self, req: Request) -> tuple[str, Path]:
        path, disk = self._disk(req)
        if not disk.is_dir():
            if len(volume_parts(path)) == 4 and self.volumes is None:
                disk.mkdir(parents=True, exist_ok=True)  # every volume exists
            else:
                raise self._folder_missing()
        return path, disk

    def directory_metadata(self, req: Request) -> Response:
        self._folder(req)
        return Response(200)

    def list_directory(self, req: Request) -> dict[str, Any]:
        path, disk = self._folder(req)
        size = min(as_int(req.query.get("page_size"), "page_size", MAX_PAGE) or MAX_PAGE, MAX_PAGE)
        after = req.query.get("page_token") or ""
        children = [c for c in sorted(disk.iterdir()) if c.name > after]
        page = children[:size]
        contents = []
        for child in page:
            stat = child.stat()
            entry: dict[str, Any] = {
                "path": str(PurePosixPath(path, child.name)) + ("/" if child.is_dir() else ""),
                "is_directory": child.is_dir(),
                "name": child.name,
                "last_modified": int(stat.st_mtime * 1000),
            }
            if child.is_file():
                entry["file_size"] = stat.st_size
            contents.append(entry)
        answer: dict[str, Any] = {"contents": contents}
        if len(children) > size:
            answer["next_page_token"] = page[-1].name
        return answer

    def delete_directory(self, req: Request) -> dict[str, Any]:
        path, disk = self._disk(req)
        with self._lock:
            if not disk.is_dir():
                raise self._folder_missing()
            if len(volume_parts(path)) == 4:
                raise invalid(f"{path} is a volume's root: it cannot be deleted here.")
            if any(disk.iterdir()):
                raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Directory {path} is not empty.")
            shutil.rmtree(disk)
        return {}
