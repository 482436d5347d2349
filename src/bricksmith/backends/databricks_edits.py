"""Edits made in a Git folder of a Databricks workspace, found with the Workspace API: the same
``[{"path", "change", "diff", "base"}]`` as the local backend's
:func:`bricksmith.backends.workspace_edits.folder_edits`.

The Repos API has no "git status" (DATABRICKS-FACTS, Git folders), so the folder is listed
(``workspace/list``, one request per folder), compared with the tree of the commit it is
checked out at (read from the local project's git, which pushed it), and only the files that
may differ are exported (``workspace/export``) and diffed.

What a real workspace answers, and where that comes from:

- ``workspace/list`` answers ``ObjectInfo`` objects: ``object_type`` (``NOTEBOOK``,
  ``DIRECTORY``, ``FILE``, ``REPO``, ...), ``path`` (without ``/Workspace``), ``language``
  (notebooks only), ``modified_at`` ("Only applicable to files, the last modified UTC
  timestamp", milliseconds) and ``size`` ("Only applicable to files. The file size in bytes
  can be returned": it may be absent) (docs.databricks.com/api/workspace-objects/v1/list,
  ``notebook/object``). A folder answers no time or size, so every folder is listed.
- In a Git folder a ``.py`` (``.sql``, ``.scala``, ``.r``) file whose first line is the
  ``# Databricks notebook source`` marker (``--``/``//`` for SQL/Scala) is a ``NOTEBOOK``,
  named without its extension; other files are ``FILE`` ("Manage file assets in Databricks
  Git folders", docs.databricks.com/en/repos/manage-assets.html; a notebook ``test1.py``
  "serializes to" ``test1``: docs …/repos/supported-artifact-types).
- ``workspace/export`` with ``format=SOURCE`` gives a notebook's source, beginning with that
  marker line (Databricks' export docs; azure.databricks.cicd.tools ``Set-LocalNotebook.ps1``
  strips "a comment line in the header"); ``AUTO`` exports an object "depending on the
  object's type" — a file as its bytes (docs …/workspace-objects/v1/export).
- *Unverified*: whether a SOURCE export of a notebook is byte for byte the committed file
  (trailing newlines might differ), so a notebook whose export differs from the committed
  file by trailing whitespace only counts as unchanged; and whether a pull through the
  Repos API moves ``modified_at`` of the files it changes (each file's time is recorded after
  every pull, so only a change of it matters, not its value).

Cost: one ``list`` per folder; an export only for a file whose size differs from the commit's
blob, or whose ``modified_at`` moved since the listing recorded after the last pull
(``outputs["_listing"]``), or every file when no listing was recorded (then, and when
discarding, everything is exported). Folders runs write into (``data``, ``logs``,
``mlruns``, caches; :data:`bricksmith.backends.git_folder.RUN_OUTPUTS`) are not listed; tracked
files in them count as unchanged.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.backends.workspace_edits import ADDED, MODIFIED, REMOVED, unified_diff

LANGUAGE_SUFFIX = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}
NOTEBOOK_SUFFIXES = (".py", ".sql", ".scala", ".r")
TOP_RUN_FOLDERS = {"data", "logs", "mlruns", "spark-warehouse", "metastore_db"}
ANY_RUN_FOLDERS = {"__pycache__", ".ipynb_checkpoints"}
RUN_FILES = {"derby.log", ".telemetry"}  # at the top
LIST_WORKERS = 8


@dataclass(frozen=True)
class Entry:
    """One object of the Git folder: its path in the repo (a notebook's with the extension its
    language gives), ``NOTEBOOK``/``FILE``, ``size`` (bytes; None for notebooks, or when the
    API leaves it out) and ``modified_at`` (ms since the epoch, or None)."""

    path: str
    kind: str
    size: int | None
    modified_at: int | None
    api_path: str


def _run_output(rel: str, folder: bool) -> bool:
    parts = PurePosixPath(rel).parts
    if any(p in ANY_RUN_FOLDERS for p in parts[:-1]) or (folder and parts[-1] in ANY_RUN_FOLDERS):
        return True
    if parts[-1].endswith(".pyc"):
        return True
    if folder and len(parts) == 1 and parts[0] in TOP_RUN_FOLDERS:
        return True
    return len(parts) == 1 and parts[0] in RUN_FILES


def listing(client, api_path: str, blobs: dict[str, Any] | None = None) -> dict[str, Entry]:
    """{repo path: Entry} of every file and notebook in the Git folder at ``api_path`` (the
    API's form, no ``/Workspace``), run outputs left out. A notebook is keyed by the committed
    file it stands for when ``blobs`` (the commit's paths) holds one, else by its name and its
    language's extension. One ``workspace/list`` request per folder, folders listed in
    parallel."""
    from databricks.sdk.service.workspace import ObjectType

    base = PurePosixPath(api_path.removeprefix("/Workspace"))
    found: dict[str, Entry] = {}
    level = [api_path]
    with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
        while level:
            below = []
            for objects in pool.map(lambda p: list(client.workspace.list(p)), level):
                for obj in objects:
                    rel = str(PurePosixPath(obj.path.removeprefix("/Workspace")).relative_to(base))
                    kind = obj.object_type or ObjectType.FILE
                    if kind in (ObjectType.DIRECTORY, ObjectType.REPO):
                        if not _run_output(rel, folder=True):
                            below.append(obj.path)
                        continue
                    if kind == ObjectType.NOTEBOOK:
                        language = obj.language.value if obj.language else "PYTHON"
                        committed = [rel + s for s in NOTEBOOK_SUFFIXES
                                     if blobs is not None and rel + s in blobs]
                        key = committed[0] if committed else \
                            rel + LANGUAGE_SUFFIX.get(language, ".py")
                        found[key] = Entry(key, "NOTEBOOK", None, obj.modified_at, obj.path)
                    elif kind == ObjectType.FILE and not _run_output(rel, folder=False):
                        found[rel] = Entry(rel, "FILE", obj.size, obj.modified_at, obj.path)
            level = below
    return found


def commit_blobs(project: Path | None, commit: str | None) -> dict[str, Any] | None:
    """{path: GitPython Blob} of ``commit`` in the local project (run outputs left out), or None
    when the project does not hold that commit."""
    if project is None or not commit:
        return None
    import git

    try:
        tree = git.Repo(project).commit(commit).tree
        return {b.path: b for b in tree.traverse()
                if b.type == "blob" and not _run_output(b.path, folder=False)
                and not _under_run_folder(b.path)}
    except (ValueError, git.GitError, OSError):
        return None


def _under_run_folder(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return (len(parts) > 1 and parts[0] in TOP_RUN_FOLDERS) or \
        any(p in ANY_RUN_FOLDERS for p in parts[:-1])


def export(client, entry: Entry) -> bytes | None:
    """The bytes of ``entry`` as the workspace holds it now (a notebook's SOURCE, a file's own
    bytes), None when it is gone."""
    from databricks.sdk import errors as sdk
    from databricks.sdk.service.workspace import ExportFormat

    fmt = ExportFormat.SOURCE if entry.kind == "NOTEBOOK" else ExportFormat.AUTO
    try:
        exported = client.workspace.export(entry.api_path, format=fmt)
    except sdk.NotFound:
        return None
    return base64.b64decode(exported.content or "")


def same(entry: Entry, there: bytes | None, blob: bytes | None) -> bool:
    if there == blob:
        return True
    if entry.kind == "NOTEBOOK" and there is not None and blob is not None:
        return there.rstrip() == blob.rstrip()  # unverified: trailing whitespace of exports
    return False


class Exports:
    """Exported bytes of the Git folder's objects, kept for one backend instance by (workspace
    path, ``modified_at``), so a plan that reads the same unchanged edit twice (the step's
    drift and the plan's edits) exports it once. Objects without ``modified_at`` are not kept."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, int], bytes | None] = {}

    def get(self, client, entry: Entry) -> bytes | None:
        if entry.modified_at is None:
            return export(client, entry)
        key = (entry.api_path, entry.modified_at)
        if key not in self._kept:
            self._kept[key] = export(client, entry)
        return self._kept[key]


def folder_edits(client, api_path: str, head: str, project: Path | None, *,
                 recorded: dict[str, Any] | None = None, exports: Exports | None = None,
                 everything: bool = False) -> list[dict[str, Any]] | None:
    """The edits of the Git folder at ``api_path`` checked out at ``head``: each file
    changed, added or removed since, ``{"path", "change", "diff", "base": head}`` sorted by
    path; None when the local project does not hold ``head`` (edits cannot be told apart).
    ``recorded``: {path: modified_at} listed after the last pull; files whose time did not
    move and whose size matches the commit are not exported (``everything``: export all)."""
    blobs = commit_blobs(project, head)
    if blobs is None:
        return None
    there = listing(client, api_path, blobs)
    exports = exports or Exports()
    edits = []
    for path in sorted(set(there) | set(blobs)):
        entry, blob = there.get(path), blobs.get(path)
        if entry is None:
            edits.append(_edit(path, REMOVED, blob.data_stream.read(), None, head))
            continue
        if blob is None:
            edits.append(_edit(path, ADDED, None, exports.get(client, entry), head))
            continue
        if not everything and not _may_differ(entry, blob, recorded):
            continue
        old, new = blob.data_stream.read(), exports.get(client, entry)
        if new is None:
            edits.append(_edit(path, REMOVED, old, None, head))
        elif not same(entry, new, old):
            edits.append(_edit(path, MODIFIED, old, new, head))
    return [e for e in edits if e["diff"]]


def _may_differ(entry: Entry, blob, recorded: dict[str, Any] | None) -> bool:
    if entry.kind == "FILE" and entry.size is not None and entry.size != blob.size:
        return True
    if recorded is None or entry.modified_at is None:
        return True
    return recorded.get(entry.path) != entry.modified_at


def _edit(path: str, change: str, old: bytes | None, new: bytes | None, head: str) -> dict:
    return {"path": path, "change": change, "diff": unified_diff(path, old, new), "base": head}


def recorded_times(client, api_path: str) -> dict[str, int]:
    """{path: modified_at} of the Git folder now (recorded after a pull)."""
    return {path: e.modified_at for path, e in listing(client, api_path).items()
            if e.modified_at is not None}


def folder_file(client, api_path: str, path: str) -> bytes | None:
    """``path`` (a repo path; a notebook's with its extension) as the Git folder holds it now;
    None when it is not there."""
    from databricks.sdk.service.workspace import ObjectType

    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts:
        return None
    full = f"{api_path}/{path}"
    status = _status(client, full)
    if status is not None and status.object_type == ObjectType.FILE:
        return export(client, Entry(path, "FILE", None, None, full))
    if rel.suffix in NOTEBOOK_SUFFIXES:
        bare = full[: -len(rel.suffix)]
        status = _status(client, bare)
        if status is not None and status.object_type == ObjectType.NOTEBOOK:
            return export(client, Entry(path, "NOTEBOOK", None, None, bare))
    return None


def _status(client, path: str):
    from databricks.sdk import errors as sdk

    try:
        return client.workspace.get_status(path)
    except sdk.NotFound:
        return None


def before_pull(client, api_path: str, head: str, commit: str, project: Path | None,
                keep_dir: Path, exports: Exports | None = None,
                recorded: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Ready the Git folder at ``api_path`` (checked out at ``head``) for a pull to ``commit``
    that discards its edits. A first look uses ``recorded`` (the listing after the last pull):
    when it finds no edit the pull discards nothing (so an edit it could not see is kept by
    the pull, as the Repos API keeps uncommitted changes). Else every edit is read (all files
    exported), and each edited or added file whose bytes ``commit`` does not hold is copied to
    ``keep_dir/<UTC time>/<path>``.

    Returns None when there is nothing to discard, or when the local project does not hold
    ``head`` (edits cannot be told apart: the pull then keeps them, or fails on a conflict,
    as the Repos API does); else ``{"kept": folder or None, "kept_files": [...], "stray":
    [added paths ``commit`` does not hold, to delete after the forced pull], "edits": [...]}``.
    Raises :class:`GitError` when a copy cannot be written (nothing is discarded then)."""
    if recorded is not None and not folder_edits(client, api_path, head, project,
                                                 recorded=recorded, exports=exports):
        return None
    edits = folder_edits(client, api_path, head, project, exports=exports, everything=True)
    if not edits:
        return None
    target = commit_blobs(project, commit) or {}
    keeping: dict[str, bytes] = {}
    for edit in edits:
        if edit["change"] == REMOVED:
            continue
        data = folder_file(client, api_path, edit["path"])
        blob = target.get(edit["path"])
        if data is not None and (blob is None or blob.data_stream.read() != data):
            keeping[edit["path"]] = data
    kept = keep_copies(keeping, keep_dir)
    stray = [e["path"] for e in edits if e["change"] == ADDED and e["path"] not in target]
    return {"kept": kept, "kept_files": sorted(keeping), "stray": stray, "edits": edits}


def remove_stray(client, api_path: str, paths: list[str]) -> None:
    """Delete files added in the Git folder that the commit does not hold (their copies were
    kept): a forced pull is documented to discard uncommitted changes, not to say whether
    untracked or ignored files go too, so they are removed explicitly."""
    from databricks.sdk import errors as sdk

    for path in paths:
        suffix = PurePosixPath(path).suffix
        for name in (path, path[: -len(suffix)] if suffix in NOTEBOOK_SUFFIXES else None):
            if name is None:
                continue
            try:
                client.workspace.delete(f"{api_path}/{name}")
                break
            except sdk.NotFound:
                continue


def keep_copies(files: dict[str, bytes], keep_dir: Path) -> Path | None:
    """Write ``files`` ({repo path: bytes}) to ``keep_dir/<UTC time>/<path>``. Returns that
    folder (None when there was nothing to keep). Raises :class:`GitError` when a copy cannot
    be written."""
    import time

    from bricksmith.atomic import write_bytes_atomically
    from bricksmith.errors import GitError

    if not files:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder, suffix = keep_dir / stamp, 1
    while folder.exists():
        suffix += 1
        folder = keep_dir / f"{stamp}-{suffix}"
    try:
        for path, data in sorted(files.items()):
            write_bytes_atomically(folder / path, data, create_folder=True)
    except OSError as exc:
        raise GitError(
            f"could not keep a copy of the Git folder's edited files in {folder}: {exc}",
            hint=f"check free space and permissions under {keep_dir}; nothing was discarded",
        ) from exc
    return folder


class GitFolderEdits:
    """``repo_edits`` and ``repo_file`` of the databricks backend (a mixin: it uses the
    backend's ``client``, ``errors``, ``_repo_or_none``, ``project`` and ``_exports``)."""

    def _edits(self, repo, outputs: dict[str, Any], project: Path | None = None) -> list:
        recorded = outputs.get("_listing") if repo.head_commit_id == outputs.get("commit") \
            else None
        return folder_edits(self.client, repo.path, repo.head_commit_id,
                            project or self.project, recorded=recorded,
                            exports=self._exports) or []

    def repo_edits(self, outputs: dict[str, Any]) -> list[dict[str, Any]]:
        """Files edited, added or removed in the Git folder since its commit, with diffs, as
        the local backend gives them (:mod:`bricksmith.backends.databricks_edits`); [] when
        the local project does not hold the folder's commit."""
        with self.errors("read the workspace Git folder"):
            repo = self._repo_or_none(outputs)
            if repo is None or not repo.path or not repo.head_commit_id:
                return []
            return self._edits(repo, outputs)

    def repo_file(self, outputs: dict[str, Any], path: str) -> bytes | None:
        """The bytes of ``path`` in the Git folder as it is now; None when it is not there."""
        with self.errors(f"read {path} in the workspace Git folder"):
            return folder_file(self.client, outputs["path"].removeprefix("/Workspace"), path)

