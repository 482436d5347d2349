"""Which workflow uploads to which data folder: a small registry beside the data, in the
workspace itself, so that workflows planned from different machines and states see each other.

Each upload target has one record, ``<registry>/<sha256 of the target>.json`` =
``{"target": "/FileStore/x/data", "workflow": "iris"}``. The registry is
``/<top folder>/.bricksmith/owners`` on DBFS (``/FileStore/.bricksmith/owners``; under a mount,
``/mnt/<name>/.bricksmith/owners``) and ``/Volumes/<c>/<s>/<v>/.bricksmith/owners`` on a
volume: outside the data folders bricksmith syncs (a Kedro ``PartitionedDataset`` over a data
folder never sees it), in a place any workflow writing to that top folder or volume can read.
A workflow whose target is, contains or lies inside another workflow's target is refused (its
deletes would remove the other's files); ``destroy`` and a moved target drop the record with
the files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import PurePosixPath

from bricksmith.errors import DataSyncError

REGISTRY = ".bricksmith/owners"


def api_path(target: str) -> str:
    """``dbfs:/X/`` -> ``/X``; ``/Volumes/...`` as it is, without a trailing slash."""
    path = target[len("dbfs:") :] if target.startswith("dbfs:/") else target
    return str(PurePosixPath(path)) if path else "/"


def registry(target: str) -> str:
    """The registry folder (API path) for ``target``."""
    parts = PurePosixPath(api_path(target)).parts  # ("/", "Volumes", c, s, v, ...)
    first = parts[1] if len(parts) > 1 else ""
    # a volume's root; a mount point (/mnt/<name>); else DBFS's top folder (/FileStore)
    top = parts[:5] if first == "Volumes" else parts[:3] if first == "mnt" else parts[:2]
    return str(PurePosixPath(*top, REGISTRY))


def record_path(target: str) -> str:
    """The API path of ``target``'s record."""
    digest = hashlib.sha256(api_path(target).encode()).hexdigest()[:32]
    return f"{registry(target)}/{digest}.json"


def record(target: str, workflow: str) -> str:
    return json.dumps({"target": api_path(target), "workflow": workflow}, sort_keys=True)


def parse(text: str | bytes) -> dict | None:
    """A record's fields, or None when the file is not a record (ignored)."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if isinstance(found, dict) and isinstance(found.get("target"), str) and isinstance(
            found.get("workflow"), str):
        return found
    return None


def overlaps(a: str, b: str) -> bool:
    """Whether one of two API paths is, or lies inside, the other."""
    first, second = PurePosixPath(a), PurePosixPath(b)
    return first == second or first.is_relative_to(second) or second.is_relative_to(first)


def refuse_others(target: str, workflow: str, records: Iterable[dict]) -> None:
    """Raise :class:`DataSyncError` when another workflow's record overlaps ``target``."""
    mine = api_path(target)
    for other in records:
        if other["workflow"] != workflow and overlaps(mine, other["target"]):
            where = "is" if other["target"] == mine else "overlaps"
            raise DataSyncError(
                f"data target {target} {where} the upload target of workflow "
                f"{other['workflow']!r} ({other['target']}): two workflows syncing one folder "
                "delete each other's files",
                hint=f"give this workflow its own data folder, or destroy workflow "
                f"{other['workflow']!r} first; if it no longer exists, delete its record "
                f"{record_path(other['target'])}",
            )
