"""Map a cluster's DBFS and volume paths into the folders that emulate them.

On Databricks, ``/dbfs/X`` (the FUSE mount), ``dbfs:/X`` and ``/Volumes/<c>/<s>/<v>/...`` name
storage of the workspace. In a local run they name ``<dbfs root>/X`` and ``<volumes root>/...``;
any other string is left as it is.

No more lenient than a cluster: ``dbfs:/X`` is understood by Spark only. A pandas, pickle, JSON
or other non-Spark dataset given ``dbfs:/X`` reads and writes the *relative local path*
``dbfs:/X`` on a cluster (kedro-datasets' ``get_protocol_and_path`` gives it the ``file``
protocol; Kedro issue 2272, PR 2385), so :meth:`PathMap.map_catalog` maps ``dbfs:/`` only in
Spark datasets and names the others, which a local run then refuses with the ``/dbfs/X`` hint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

# The machine's own folders that a cluster path would reach if it were not mapped.
PROTECTED = ("/dbfs", "/FileStore", "/Volumes")


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class PathMap:
    dbfs: str  # the folder standing in for dbfs:/
    volumes: str  # the folder standing in for /Volumes

    def map(self, value: str) -> str:
        """``value`` with a leading ``/dbfs``, ``dbfs:/`` or ``/Volumes`` mapped."""
        if _under(value, "/dbfs"):
            return self.dbfs + value[len("/dbfs") :]
        if value.startswith("dbfs:/"):
            rest = value[len("dbfs:") :].lstrip("/")
            return f"{self.dbfs}/{rest}" if rest else self.dbfs
        if _under(value, "/Volumes"):
            return self.volumes + value[len("/Volumes") :]
        return value

    def map_config(self, config: Any) -> tuple[Any, int]:
        """A copy of ``config`` (dicts, lists, strings) with every path mapped, and how many
        strings changed."""
        if isinstance(config, str):
            mapped = self.map(config)
            return mapped, int(mapped != config)
        if isinstance(config, dict):
            changed, out = 0, {}
            for key, value in config.items():
                out[key], n = self.map_config(value)
                changed += n
            return out, changed
        if isinstance(config, (list, tuple)):
            pairs = [self.map_config(value) for value in config]
            return type(config)(v for v, _ in pairs), sum(n for _, n in pairs)
        return config, 0

    def escapes(self, path: str) -> bool:
        """Whether writing ``path`` would reach the machine's real /dbfs, /FileStore or
        /Volumes (or a DBFS URL) instead of the emulated folders."""
        if path.startswith("dbfs:"):
            return True
        for prefix in ("file://", "file:"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        if _under(path, self.dbfs) or _under(path, self.volumes):
            return False
        return any(_under(path, folder) for folder in PROTECTED)

    def map_catalog(self, catalog: Any) -> tuple[Any, int, list[str]]:
        """:meth:`map_config` for a Kedro catalog, entry by entry: ``(mapped, changed,
        refused)``, where ``refused`` describes each non-Spark entry holding a ``dbfs:/``
        path (it is left unmapped). Entries whose name starts with ``_`` (YAML templates) are
        mapped but not judged."""
        if not isinstance(catalog, dict):
            mapped, changed = self.map_config(catalog)
            return mapped, changed, []
        out, changed, refused = {}, 0, []
        for name, entry in catalog.items():
            urls = [] if str(name).startswith("_") or is_spark(entry) else _dbfs_urls(entry)
            if urls:
                kind = entry.get("type") if isinstance(entry, dict) else None
                fuse = "/dbfs/" + urls[0][len("dbfs:") :].lstrip("/")
                refused.append(f"dataset {name!r} ({kind}) uses {urls[0]}: use {fuse}")
                out[name] = entry
                continue
            out[name], n = self.map_config(entry)
            changed += n
        return out, changed, refused

    @classmethod
    def from_env(cls, env: Any = None) -> PathMap | None:
        """The map a local run set up (``BRICKSMITH_DBFS_ROOT``, ``BRICKSMITH_VOLUMES_ROOT``);
        None elsewhere (on Databricks nothing is mapped)."""
        env = os.environ if env is None else env
        dbfs = env.get("BRICKSMITH_DBFS_ROOT")
        if not dbfs:
            return None
        volumes = env.get("BRICKSMITH_VOLUMES_ROOT") or os.path.join(
            os.path.dirname(dbfs.rstrip("/")), "Volumes"
        )
        return cls(dbfs.rstrip("/"), volumes.rstrip("/"))


def is_spark(entry: Any) -> bool:
    """Whether a catalog entry is a Spark dataset (``spark.SparkDataset``,
    ``kedro_datasets.spark.DeltaTableDataset``, ``databricks.ManagedTableDataset``...): the
    only kind that understands ``dbfs:/`` on a cluster."""
    kind = entry.get("type") if isinstance(entry, dict) else None
    if not isinstance(kind, str):
        return False
    parts = kind.lower().split(".")
    return "spark" in parts[:-1] or "databricks" in parts[:-1] or parts[-1].startswith("spark")


def _dbfs_urls(config: Any) -> list[str]:
    if isinstance(config, str):
        return [config] if config.startswith("dbfs:") else []
    if isinstance(config, dict):
        return [url for value in config.values() for url in _dbfs_urls(value)]
    if isinstance(config, (list, tuple)):
        return [url for value in config for url in _dbfs_urls(value)]
    return []
