"""What the plan says about the project's Data Catalog, per run: runs that take turns, and
raw inputs no upload provides.

For each run the catalog is resolved as the run's Kedro session resolves it
(``bricksmith.run_outputs.run_catalog``: base + run environment, runtime params
``data_root`` and the run's params). Two notes come of it:

- **Runs that take turns.** Runs whose catalogs share an output location (the rule in
  ``bricksmith.run_outputs``) never run at the same time; the plan says which and why:
  ``run.baseline and run.split-70 write the same outputs (y_pred → /dbfs/...): they run one
  after the other``.
- **Data no upload provides.** A dataset read from ``/dbfs/...``, ``dbfs:/...`` or
  ``/Volumes/...`` is taken as a raw input of the run when it is in a raw layer (Kedro's layer
  metadata, or a ``raw``/``01_raw`` folder in its path) or when its file exists, by relative
  path, under an upload's source folder (``01_raw/iris.csv`` in ``data/``). Without importing
  the project's pipeline the free inputs are not known exactly: outputs in a raw layer would
  be warned about too, and an input elsewhere that is in no upload source is not. Such an
  input that no upload provides (no upload target holds it, or the upload's source lacks
  the file) is a warning naming the dataset, its path and the nearest upload target (by
  ``difflib``'s similarity of the paths) or, when a source folder has the file, the target
  that would provide it.

A project that does not exist yet (a starter to scaffold) gives no notes. A catalog Kedro
cannot resolve is a note too: the project's runs then take turns (``run_outputs``).
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bricksmith.errors import ProjectConfError
from bricksmith.kedro_catalog import RunCatalog, conf_paths, referenced_runtime_params
from bricksmith.observations import Probe, kind_probe, observe
from bricksmith.pathfacts import is_racy
from bricksmith.run_outputs import (
    Upload,
    location,
    on_databricks_storage,
    raw_layer,
    run_catalog,
    uploads_of,
    written_outputs,
)

MAX_SHOWN = 3  # outputs named in one note


def catalog_notes(spec: Any) -> tuple[list[str], list[Probe] | None]:
    """(notes, probes) for the plan of ``spec`` (a ``LoadedSpec``). The probes stand for
    every file and folder the notes were computed from (None: not memoisable)."""
    wf = spec.workflow
    pyproject = spec.project_dir / "pyproject.toml"
    if not wf.runs or not pyproject.is_file():
        return [], [kind_probe(pyproject)]
    uploads = uploads_of(spec)
    catalogs: dict[str, RunCatalog] = {}
    try:
        probes = _probes(spec, uploads)  # observed before they are read
        for run, catalog in _resolve(spec, wf.runs):
            catalogs[run] = catalog
    except ProjectConfError as exc:
        return [f"the catalog of {spec.project_dir.name} cannot be resolved ({exc.message}): "
                "the project's runs run one after the other"], None
    notes = _turns(catalogs, uploads, wf.name) + _unprovided(catalogs, uploads, wf.name)
    return notes, probes


def _resolve(spec: Any, runs: Iterable[Any]) -> Iterable[tuple[str, RunCatalog]]:
    """(run step, catalog) per run; runs that agree on the runtime params the catalog refers
    to share one resolution."""
    from bricksmith.kedro_catalog import run_runtime_params

    data = spec.workflow.data
    referenced = referenced_runtime_params(spec.project_dir)
    cache: dict[str, RunCatalog] = {}
    for run in runs:
        runtime = run_runtime_params(data[0].target if data else None, run.params)
        relevant = runtime if referenced is None else {
            k: v for k, v in runtime.items() if k.split(".")[0] in
            {r.split(".")[0] for r in referenced}}
        key = json.dumps(relevant, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = run_catalog(spec, run.params)
        yield f"run.{run.name}", cache[key]


def _turns(catalogs: dict[str, RunCatalog], uploads: list[Upload], repo: str) -> list[str]:
    """One note per group of runs that share the same outputs."""
    writers: dict[str, list[str]] = {}  # location -> runs
    names: dict[str, str] = {}
    for run, catalog in catalogs.items():
        for loc, name in written_outputs(catalog, uploads, repo).items():
            writers.setdefault(loc, []).append(run)
            names.setdefault(loc, name)
    groups: dict[tuple[str, ...], list[str]] = {}
    for loc, runs in writers.items():
        if len(runs) > 1:
            groups.setdefault(tuple(runs), []).append(loc)
    notes = []
    for runs, locs in groups.items():
        shown = ", ".join(f"{names[loc]} → {loc}" for loc in sorted(locs)[:MAX_SHOWN])
        more = f" and {len(locs) - MAX_SHOWN} more" if len(locs) > MAX_SHOWN else ""
        notes.append(f"{_and(runs)} write the same outputs ({shown}{more}): "
                     "they run one after the other")
    return notes


def _unprovided(catalogs: dict[str, RunCatalog], uploads: list[Upload], repo: str) -> list[str]:
    """One warning per raw input on DBFS or a volume that no upload provides."""
    notes: dict[tuple[str, str], str] = {}
    for catalog in catalogs.values():
        for dataset in catalog.datasets:
            if not dataset.persisted or not dataset.path or dataset.pattern:
                continue
            loc = location(dataset.path, repo)
            if (not on_databricks_storage(loc) or (dataset.name, loc) in notes
                    or any(u.provides(loc) for u in uploads)):
                continue
            found_in = _source_having(loc, uploads)
            if raw_layer(dataset) or found_in:
                notes[(dataset.name, loc)] = _unprovided_note(dataset.name, loc, uploads,
                                                              found_in)
    return list(notes.values())


def _unprovided_note(name: str, loc: str, uploads: list[Upload],
                     found_in: tuple[Upload, str] | None) -> str:
    text = f"dataset {name} reads {loc}, which no upload provides"
    if not uploads:
        return text + " (the spec has no `data:` entries)"
    holding = next((u for u in uploads if u.relative(loc) is not None), None)
    if holding is not None:
        return (text + f": it lies under the upload target {holding.target}, but "
                f"{holding.shown(holding.relative(loc))} does not exist in the project")
    if found_in is not None:
        upload, rel = found_in
        wanted = loc[: len(loc) - len(rel)].rstrip("/")
        wanted = "dbfs:/" + wanted[len("/dbfs/"):] if wanted.startswith("/dbfs/") else wanted
        return (text + f"; {upload.shown(rel)} is uploaded to {upload.target}: "
                f"set that data target to {wanted} (or point the catalog at the upload)")
    nearest = max(uploads, key=lambda u: difflib.SequenceMatcher(None, u.fuse, loc).ratio())
    return text + f"; the nearest upload target is {nearest.target}"


def _source_having(loc: str, uploads: list[Upload]) -> tuple[Upload, str] | None:
    """(upload, relative path) when an upload's source folder has the file of ``loc`` by its
    longest trailing relative path (``01_raw/iris.csv``)."""
    parts = loc.strip("/").split("/")
    for size in range(len(parts) - 1, 0, -1):
        rel = "/".join(parts[-size:])
        for upload in uploads:
            if (upload.source / rel).is_file():
                return upload, rel
    return None


def _probes(spec: Any, uploads: list[Upload]) -> list | None:
    """Probes of the project's configuration and of the upload sources (whose files decide
    which inputs are provided)."""
    files, folders = conf_paths(spec.project_dir)
    probes: list[Probe | None] = [kind_probe(spec.project_dir / "pyproject.toml")]
    probes += [observe(path) for path in sorted(set(files))]
    probes += [_folder_probe(path) for path in sorted(set(folders))]
    for upload in uploads:
        probes.append(kind_probe(upload.source))
        if upload.source.is_dir():
            for root, dirs, _files in os.walk(upload.source):
                dirs.sort()
                probes.append(_folder_probe(Path(root)))
    return None if any(p is None for p in probes) else probes


def _folder_probe(path: Path) -> Probe | None:
    try:
        st = os.stat(path)
    except OSError:
        return kind_probe(path)
    if not stat.S_ISDIR(st.st_mode):
        return kind_probe(path)
    if is_racy(st.st_mtime_ns, time.time_ns()):
        return None
    return ["dir", str(path), st.st_mtime_ns]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
