"""Where the emulated workspace keeps things on disk, and the stand-in for the FUSE mounts.

    <root>/Workspace/...   workspace objects: /Users/u/nb (or /Workspace/Users/u/nb), repos
    <root>/dbfs/...        DBFS: dbfs:/X and /X in the DBFS API, /dbfs/X on a cluster
    <root>/Volumes/...     Unity Catalog volumes: /Volumes/<catalog>/<schema>/<volume>/...
    <root>/jobs/...        run logs (<run_id>.log) and the translated notebooks runs execute
    <root>/.emulator/      scratch space for atomic writes (same file system, never listed)

On a cluster, notebooks see the workspace, DBFS and volumes as local folders (``/Workspace``,
``/dbfs``, ``/Volumes``). :meth:`Layout.translate` maps those absolute paths into the root, so
the same notebook text and job parameters run here.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath

from bricksmith.emulator.wire import invalid

_MOUNTS = re.compile(r"(?<![\w.~/-])/(Workspace|dbfs|Volumes)(?=[/\"'\s]|$)")


def clean(path: str, what: str = "path") -> str:
    """``path`` normalised ("//" and trailing "/" removed); absolute and without "." or ".."."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid(f"Path ({path}) doesn't start with '/': the {what} must be absolute")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise invalid(f"Path ({path}) contains '.' or '..' components")
    return "/" + "/".join(parts)


def workspace_path(path: str) -> str:
    """The canonical workspace path: ``/Workspace/Users/x`` and ``/Users/x`` are both
    ``/Users/x``; ``/Workspace`` is ``/``."""
    path = clean(path)
    if path == "/Workspace":
        return "/"
    if path.startswith("/Workspace/"):
        return path[len("/Workspace") :]
    return path


def dbfs_path(path: str) -> str:
    """The canonical DBFS path: ``dbfs:/X`` and ``/X`` are both ``/X``."""
    if isinstance(path, str) and path.startswith("dbfs:"):
        path = path[len("dbfs:") :]
    return clean(path)


def volume_parts(path: str) -> list[str]:
    """The components of a ``/Volumes/<catalog>/<schema>/<volume>/...`` path."""
    parts = clean(path).split("/")[1:]
    if len(parts) < 4 or parts[0] != "Volumes":
        raise invalid(
            f"Path ({path}) is not in a Unity Catalog volume: "
            "expected /Volumes/<catalog>/<schema>/<volume>/..."
        )
    return parts


class Layout:
    """The folders of one emulated workspace under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.workspace = self.root / "Workspace"
        self.dbfs = self.root / "dbfs"
        self.volumes = self.root / "Volumes"
        self.jobs = self.root / "jobs"
        self.scratch = self.root / ".emulator"

    def create(self) -> None:
        for folder in (self.workspace, self.dbfs, self.volumes, self.jobs, self.scratch):
            folder.mkdir(parents=True, exist_ok=True)

    def workspace_disk(self, canonical: str) -> Path:
        return self.workspace.joinpath(*PurePosixPath(canonical).parts[1:])

    def dbfs_disk(self, canonical: str) -> Path:
        return self.dbfs.joinpath(*PurePosixPath(canonical).parts[1:])

    def volume_disk(self, path: str) -> Path:
        return self.volumes.joinpath(*volume_parts(path)[1:])

    def translate(self, text: str) -> str:
        """``text`` with the cluster's absolute ``/Workspace``, ``/dbfs`` and ``/Volumes``
        paths pointing into the root instead (one pass: nothing is translated twice)."""
        return _MOUNTS.sub(lambda m: f"{self.root}/{m.group(1)}", text)

    def write_atomically(self, dest: Path, data: bytes) -> None:
        """Write ``data`` to a scratch file, then rename it to ``dest``: whole or not at all."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.scratch, prefix="write-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # on disk before it takes the name
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def scratch_file(self, prefix: str) -> Path:
        fd, tmp = tempfile.mkstemp(dir=self.scratch, prefix=prefix)
        os.close(fd)
        return Path(tmp)
