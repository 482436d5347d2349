"""The workspace: notebooks, files and folders (Workspace API), and the current user (SCIM Me).

Objects live as files under ``<root>/Workspace``. A notebook ``/Users/u/x/run`` in Python is
the file ``Users/u/x/run.py`` whose first line is ``# Databricks notebook source`` (SQL:
``-- ...``, Scala: ``// ...``, R: ``.r`` with ``# ...``) — exactly how Databricks Git folders
keep notebooks in git, so notebooks inside a cloned repo are notebooks here too. Any other file
is a FILE; a folder is a DIRECTORY, or a REPO when a repo was created there. ``/Workspace/X``
and ``/X`` name the same object; paths in answers are the short form (``/Users/...``).

Behaviour copied from the real API: importing needs the parent folder to exist (404
``RESOURCE_DOES_NOT_EXIST`` "The parent folder (...) does not exist."); an existing object is
replaced only with ``overwrite`` (else ``RESOURCE_ALREADY_EXISTS`` "Path (X) already
exists.": 400 when a notebook is there, 409 for a file, as the Go CLI's
``libs/filer/workspace_files_client.go`` handles them); ``format`` is case sensitive
(``SOURCE``, not ``source``: the API's enum values; the status of the real refusal is
*unverified*, 400 here); ``SOURCE`` imports need ``language``; ``mkdirs`` creates parents
and refuses a path under a non-folder; deleting a
non-empty folder needs ``recursive`` (400 ``DIRECTORY_NOT_EMPTY``).
Not emulated (501): DBC, HTML, JUPYTER and R_MARKDOWN formats; exporting a folder.

``list``/``get-status`` answer ``modified_at`` (ms) for files and notebooks and ``size`` for
files only, none for folders (ObjectInfo: "Only applicable to files"; ``list`` takes
``notebooks_modified_after``, so notebooks carry a modification time too:
docs.databricks.com/api/workspace-objects/v1/list). In a Git folder a ``.py`` file starting
with the notebook marker is a NOTEBOOK named without ``.py`` ("Manage file assets in
Databricks Git folders"), and importing into a path inside a repo edits that file of the
clone in place, as an edit in the workspace's editor does: the repo's pull then keeps it
(repos.py).
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.emulator.paths import Layout, workspace_path
from bricksmith.emulator.wire import (
    ApiError,
    Request,
    Response,
    already_exists,
    b64decode,
    b64encode,
    invalid,
    not_found,
    unsupported,
)

LANGUAGES = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}
HEADERS = {
    ".py": "# Databricks notebook source",
    ".sql": "-- Databricks notebook source",
    ".scala": "// Databricks notebook source",
    ".r": "# Databricks notebook source",
}
EXTENSION_LANGUAGE = {ext: lang for lang, ext in LANGUAGES.items()}
MAX_IMPORT_BYTES = 10 * 1024 * 1024
HIDDEN = {".git"}


@dataclass(frozen=True)
class Obj:
    kind: str  # NOTEBOOK, DIRECTORY, REPO, FILE
    path: str  # canonical workspace path
    disk: Path
    language: str | None = None


def notebook_language(file: Path) -> str | None:
    """The language of a notebook source file (extension + header line), else None."""
    ext = file.suffix.lower()
    if ext not in HEADERS or not file.is_file():
        return None
    try:
        with open(file, "rb") as handle:
            first = handle.readline(200).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return EXTENSION_LANGUAGE[ext] if first == HEADERS[ext] else None


class Workspace:
    def __init__(self, layout: Layout, user: str) -> None:
        self.layout = layout
        self.user = user
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._next_id = itertools.count(1_000_000_001)
        self._repos: dict[str, int] = {}  # canonical path -> repo id (see repos.py)

    def create_home(self) -> None:
        """The folders every workspace has, and the user's home. ``/Repos/<user>`` is not one:
        a real workspace creates it when the user first opens the UI, so a new user's or a
        service principal's first Git folder needs ``mkdirs`` (DATABRICKS-FACTS, Git folders)."""
        for folder in (f"/Users/{self.user}", "/Shared", "/Repos"):
            self.layout.workspace_disk(folder).mkdir(parents=True, exist_ok=True)

    def routes(self):
        return [
            ("GET", "/api/2.0/preview/scim/v2/Me", self.me),
            ("POST", "/api/2.0/workspace/import", self.import_),
            ("GET", "/api/2.0/workspace/export", self.export),
            ("GET", "/api/2.0/workspace/get-status", self.get_status),
            ("GET", "/api/2.0/workspace/list", self.list),
            ("POST", "/api/2.0/workspace/mkdirs", self.mkdirs),
            ("POST", "/api/2.0/workspace/delete", self.delete),
        ]

    # -- objects -----------------------------------------------------------------------------

    def object_id(self, path: str) -> int:
        if path in self._repos:
            return self._repos[path]
        with self._lock:
            if path not in self._ids:
                self._ids[path] = next(self._next_id)
            return self._ids[path]

    def register_repo(self, path: str, repo_id: int) -> None:
        with self._lock:
            self._repos[path] = repo_id

    def repo_at(self, path: str) -> int | None:
        return self._repos.get(path)

    def lookup(self, path: str) -> Obj | None:
        """The object at the canonical ``path``, or None (also when a symbolic link, say in a
        cloned repo, leads out of the workspace)."""
        obj = self._lookup(path)
        if obj is not None and not obj.disk.resolve().is_relative_to(self.layout.workspace):
            return None
        return obj

    def _lookup(self, path: str) -> Obj | None:
        if path == "/":
            return Obj("DIRECTORY", "/", self.layout.workspace)
        if HIDDEN & set(PurePosixPath(path).parts):
            return None
        disk = self.layout.workspace_disk(path)
        if disk.is_dir():
            return Obj("REPO" if path in self._repos else "DIRECTORY", path, disk)
        for ext in HEADERS:
            file = disk.with_name(disk.name + ext)
            language = notebook_language(file)
            if language:
                return Obj("NOTEBOOK", path, file, language)
        if disk.is_file() and notebook_language(disk) is None:
            return Obj("FILE", path, disk)
        return None

    def lookup_notebook(self, path: str) -> Obj | None:
        obj = self.lookup(workspace_path(path))
        return obj if obj and obj.kind == "NOTEBOOK" else None

    def children(self, folder: Obj) -> list[Obj]:
        found: dict[str, Obj] = {}
        for entry in sorted(folder.disk.iterdir()):
            if entry.name in HIDDEN:
                continue
            name = entry.name
            if entry.is_file() and notebook_language(entry):
                name = entry.name[: -len(entry.suffix)]
            obj = self.lookup(str(PurePosixPath(folder.path, name)))
            if obj is not None:
                found.setdefault(obj.path, obj)
        return list(found.values())

    def info(self, obj: Obj) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": obj.path,
            "object_type": obj.kind,
            "object_id": self.object_id(obj.path),
            "resource_id": str(self.object_id(obj.path)),
        }
        if obj.language:
            data["language"] = obj.language
        if obj.kind in ("NOTEBOOK", "FILE"):
            stat = obj.disk.stat()
            data["created_at"] = int(stat.st_ctime * 1000)
            data["modified_at"] = int(stat.st_mtime * 1000)
            if obj.kind == "FILE":
                data["size"] = stat.st_size
        return data

    def _existing(self, req: Request) -> Obj:
        path = workspace_path(req.required("path"))
        obj = self.lookup(path)
        if obj is None:
            raise not_found(f"Path ({path}) doesn't exist.")
        return obj

    # -- endpoints ---------------------------------------------------------------------------

    def me(self, req: Request) -> dict[str, Any]:
        digits = int(hashlib.sha256(self.user.encode()).hexdigest()[:12], 16)
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": str(digits),
            "userName": self.user,
            "displayName": self.user.split("@")[0],
            "active": True,
            "emails": [{"value": self.user, "type": "work", "primary": True}],
        }

    def get_status(self, req: Request) -> dict[str, Any]:
        return self.info(self._existing(req))

    def list(self, req: Request) -> dict[str, Any]:
        obj = self._existing(req)
        if obj.kind not in ("DIRECTORY", "REPO"):
            return {"objects": [self.info(obj)]}
        objects = [self.info(child) for child in self.children(obj)]
        return {"objects": objects} if objects else {}

    def mkdirs(self, req: Request) -> dict[str, Any]:
        path = workspace_path(req.required("path"))
        with self._lock:
            parts = PurePosixPath(path).parts
            for depth in range(2, len(parts) + 1):
                prefix = str(PurePosixPath(*parts[:depth]))
                obj = self.lookup(prefix)
                if obj is not None and obj.kind not in ("DIRECTORY", "REPO"):
                    raise already_exists(
                        f"Cannot create directory {path}: {prefix} exists and is a {obj.kind}."
                    )
            self.layout.workspace_disk(path).mkdir(parents=True, exist_ok=True)
        return {}

    def delete(self, req: Request) -> dict[str, Any]:
        recursive = req.flag("recursive")
        with self._lock:
            obj = self._existing(req)
            if obj.path == "/":
                raise invalid("Cannot delete the workspace root.")
            if obj.kind in ("DIRECTORY", "REPO"):
                if not recursive and any(obj.disk.iterdir()):
                    raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({obj.path}) is not empty.")
                shutil.rmtree(obj.disk)
                for repo in [
                    p for p in self._repos if p == obj.path or p.startswith(obj.path + "/")
                ]:
                    del self._repos[repo]
            else:
                obj.disk.unlink()
            self._ids.pop(obj.path, None)
        return {}

    def import_(self, req: Request) -> dict[str, Any]:
        path = workspace_path(req.required("path"))
        if req.form is not None and "content" in req.form:
            content = req.form["content"]
        else:
            content = b64decode(req.arg("content"), "content")
        if len(content) > MAX_IMPORT_BYTES:
            raise invalid("The content exceeds 10 MB.", "MAX_NOTEBOOK_SIZE_EXCEEDED")
        fmt = _format(req)
        language = req.arg("language")
        overwrite = req.flag("overwrite")
        if fmt == "SOURCE":
            if not language:
                raise invalid(
                    "To import a notebook in SOURCE format, set its language "
                    "(PYTHON, SQL, SCALA or R)."
                )
            target, language = path, str(language).upper()
            if language not in LANGUAGES:
                raise invalid(f"Unknown language {language!r}: use PYTHON, SQL, SCALA or R.")
        elif fmt == "AUTO":
            target, language = self._auto(path, content)
        elif fmt == "RAW":
            target, language = path, None
        elif fmt in ("DBC", "HTML", "JUPYTER", "R_MARKDOWN"):
            raise unsupported(f"importing in {fmt} format")
        else:
            raise invalid(f"Unknown import format {fmt!r}.")
        with self._lock:
            self._write(target, content, language, overwrite)
        return {}

    @staticmethod
    def _auto(path: str, content: bytes) -> tuple[str, str | None]:
        suffix = PurePosixPath(path).suffix.lower()
        header = HEADERS.get(suffix)
        first = content.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if header and first == header:
            return path[: -len(suffix)], EXTENSION_LANGUAGE[suffix]
        return path, None

    def _write(self, path: str, content: bytes, language: str | None, overwrite: bool) -> None:
        parent = self.lookup(str(PurePosixPath(path).parent))
        if parent is None or parent.kind not in ("DIRECTORY", "REPO"):
            raise not_found(f"The parent folder ({PurePosixPath(path).parent}) does not exist.")
        existing = self.lookup(path)
        if existing is not None:
            if not overwrite:
                status = 400 if existing.kind in ("NOTEBOOK", "DIRECTORY", "REPO") else 409
                raise already_exists(f"Path ({path}) already exists.", status=status)
            if existing.kind in ("DIRECTORY", "REPO"):
                raise already_exists(f"Path ({path}) already exists and is a folder.")
        disk = self.layout.workspace_disk(path)
        if language:
            ext = LANGUAGES[language]
            header = HEADERS[ext].encode()
            if content.split(b"\n", 1)[0].strip() != header:
                content = header + b"\n" + content
            dest = disk.with_name(disk.name + ext)
        else:
            dest = disk
        self.layout.write_atomically(dest, content)
        if existing is not None and existing.disk != dest:
            existing.disk.unlink(missing_ok=True)

    def export(self, req: Request) -> Response | dict[str, Any]:
        obj = self._existing(req)
        fmt = _format(req)
        if obj.kind in ("DIRECTORY", "REPO"):
            raise unsupported("exporting a folder")
        allowed = ("SOURCE", "AUTO") if obj.kind == "NOTEBOOK" else ("SOURCE", "AUTO", "RAW")
        if fmt not in allowed:
            raise unsupported(f"exporting a {obj.kind.lower()} in {fmt} format")
        data = obj.disk.read_bytes()
        if req.flag("direct_download"):
            return Response(200, data, {"Content-Type": "application/octet-stream"})
        result: dict[str, Any] = {"content": b64encode(data)}
        if obj.kind == "NOTEBOOK":
            result["file_type"] = obj.disk.suffix.lstrip(".")
        return result


FORMATS = ("SOURCE", "HTML", "JUPYTER", "DBC", "R_MARKDOWN", "AUTO", "RAW")


def _format(req: Request) -> str:
    """The ``format`` parameter, exactly as spelled (the API's enum is case sensitive)."""
    fmt = str(req.arg("format") or "SOURCE")
    if fmt not in FORMATS:
        raise invalid(f"Invalid format {fmt!r}: use one of {', '.join(FORMATS)} (uppercase).")
    return fmt
