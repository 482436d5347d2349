"""The databricks backend's data limits: Files API uploads (volumes) and DBFS listings
(used by ``databricks_data``).

Limits (databricks-sdk 0.162, ``service/files.py``):

- ``FilesAPI.upload``: "Uploads a file of up to 5 GiB" in one request whose body is the raw
  bytes. The body is sent from the open file (requests streams a file object), never read
  whole into memory; a larger file is refused before anything is sent.
- ``DbfsAPI.list``: "the list operation will time out after approximately 60 seconds ... using
  list only on directories containing less than 10K files". The DBFS API has no paging, so a
  folder that holds (or will hold) more than :data:`DBFS_LIST_LIMIT` of the upload's files is
  not listed: each file bricksmith knows of is asked for by ``get-status`` instead
  (:func:`dbfs_stats_by_status`), concurrently. Temporary files of an interrupted upload in such
  a folder are then not found (their names are random): they stay until the folder is smaller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.errors import BackendError

FILES_API_LIMIT = 5 << 30  # bytes: one Files API PUT takes at most 5 GiB
DBFS_LIST_LIMIT = 10_000  # entries: dbfs/list times out on larger folders


def check_volume_sizes(source: Path, rels: Iterable[str], sizes: dict[str, int],
                       target: str) -> None:
    """Raise BackendError naming the first file of ``rels`` (relative to ``source``) over the
    Files API's 5 GiB limit, before anything is uploaded. ``sizes``: {relative path: bytes}."""
    big = sorted(rel for rel in rels if sizes.get(rel, 0) > FILES_API_LIMIT)
    if big:
        size = sizes[big[0]] / (1 << 30)
        more = f" (and {len(big) - 1} more)" if len(big) > 1 else ""
        raise BackendError(
            f"{source / big[0]} is {size:.1f} GiB{more}: the Files API uploads a file of at "
            f"most 5 GiB to {target}",
            hint="split the file, or keep it out of the data folder and read it from where it "
            "already is in the workspace",
        )


def upload_volume_file(client: Any, source: Path, dest: str) -> None:
    """PUT ``source`` to the volume path ``dest`` (overwrite), streamed from the open file.
    Raises BackendError for a file over 5 GiB; SDK errors as the SDK raises them."""
    from databricks.sdk.service.files import FilesAPI

    size = source.stat().st_size
    if size > FILES_API_LIMIT:
        check_volume_sizes(source.parent, [source.name], {source.name: size}, dest)
    with source.open("rb") as contents:
        FilesAPI(client.api_client).upload(dest, contents, overwrite=True)


def crowded_folders(rels: Iterable[str], limit: int | None = None) -> set[str]:
    """Folders (relative, '.' for the top) that hold more than ``limit`` (default
    :data:`DBFS_LIST_LIMIT`) of ``rels`` directly."""
    limit = DBFS_LIST_LIMIT if limit is None else limit
    counts: dict[str, int] = {}
    for rel in rels:
        parent = str(PurePosixPath(rel).parent)
        counts[parent] = counts.get(parent, 0) + 1
    return {folder for folder, count in counts.items() if count > limit}


def dbfs_stats_by_status(client: Any, api_path: Callable[[str], str], rels: Iterable[str],
                         workers: int) -> dict[str, tuple[int, int]]:
    """{relative path: (size, modification time ms)} of those of ``rels`` that exist on DBFS,
    asked one by one (``dbfs/get-status``, concurrently) instead of listing their folder."""
    from databricks.sdk import errors as sdk
    from databricks.sdk.service.files import DbfsAPI

    def stat(rel: str) -> tuple[str, tuple[int, int] | None]:
        try:
            status = DbfsAPI.get_status(client.dbfs, api_path(rel))
        except sdk.NotFound:
            return rel, None
        if status.is_dir:
            return rel, None
        return rel, (status.file_size or 0, status.modification_time or 0)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(stat, sorted(set(rels)))
        return {rel: got for rel, got in found if got is not None}
