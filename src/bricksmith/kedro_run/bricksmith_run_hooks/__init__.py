"""Kedro hooks of bricksmith's local runs (the emulated cluster), for any project, unchanged.

bricksmith's notebook kernel puts this folder's parent on ``sys.path``; Kedro registers
:data:`hooks` from the ``kedro.hooks`` entry point of the ``bricksmith-run-hooks`` distribution
beside it. Everything is driven by environment variables the local runner sets, so the hooks do
nothing anywhere else (on Databricks they are not even installed):

- ``BRICKSMITH_DBFS_ROOT`` / ``BRICKSMITH_VOLUMES_ROOT``: the catalog's ``/dbfs/X`` and
  ``/Volumes/...`` paths (pandas and Spark datasets alike, dataset factories too) and the
  ``dbfs:/X`` paths of Spark datasets are mapped into these folders before Kedro builds the
  catalog; a non-Spark dataset with a ``dbfs:/X`` path is refused (on a cluster it would use
  the relative local path ``dbfs:/X``: see ``paths``), with the ``/dbfs/X`` hint; a dataset that
  would still write to the machine's /dbfs, /FileStore or /Volumes is refused before it writes.
- ``BRICKSMITH_METRICS_FILE``: after the pipeline run, its metrics (see ``metrics``) and where
  each came from are written there as JSON.
- In a local run (``BRICKSMITH_DBFS_ROOT`` set), a line ``[bricksmith] node I/N: NAME`` is
  printed before each node (bricksmith's live table shows it: ``bricksmith.run_position``), and
  Kedro's rich log handler prints each record as one line, never wrapped (see ``logs``).

This package imports only the standard library and Kedro: it runs in the project's environment.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from kedro.framework.hooks import hook_impl

from bricksmith_run_hooks.logs import one_line_records
from bricksmith_run_hooks.metrics import MetricsLog, dataset_kind
from bricksmith_run_hooks.paths import PathMap

logger = logging.getLogger(__name__)


class EscapingWriteError(RuntimeError):
    """A dataset would write to the machine's real DBFS/volume folders."""


class DbfsUrlError(RuntimeError):
    """A non-Spark dataset uses a ``dbfs:/`` path, which only Spark understands on a cluster."""


class RunHooks:
    """Path mapping, write guard and metrics collection for one Kedro session at a time."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._metrics = MetricsLog()
        self._nodes = 0  # of the pipeline that runs
        self._started = 0  # nodes started so far
        self._lock = threading.Lock()  # Kedro's ThreadRunner starts nodes from threads
        if os.environ.get("BRICKSMITH_DBFS_ROOT"):  # made when Kedro registers the hooks:
            one_line_records()  # its logging is set up by then (and again in a new context)

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        paths = PathMap.from_env()
        if paths is None:
            return
        one_line_records()  # a handler configured since the hooks were registered
        loader = context.config_loader
        try:
            catalog = loader["catalog"]
        except Exception:  # no or broken catalog: Kedro reports it itself later
            return
        mapped, changed, refused = paths.map_catalog(catalog)
        if refused:
            raise DbfsUrlError(
                "on a Databricks cluster only Spark datasets understand dbfs:/ paths; "
                "kedro-datasets treats dbfs:/... as a relative local path for the others "
                "(Kedro issue 2272), so this run would not find or keep its data there: "
                + "; ".join(refused)
                + ". Use the /dbfs/... form (the cluster's FUSE view of DBFS) for pandas, "
                "pickle, JSON and other non-Spark datasets."
            )
        try:  # a key set on Kedro's config loader is returned as it is, not read again
            loader["catalog"] = mapped
        except Exception as exc:  # a config loader of the project's own that refuses it
            print(f"[bricksmith] cannot map the catalog's DBFS paths: {exc}", flush=True)
            return
        if changed:  # printed: a project's logging config need not show this logger's INFO
            print(
                f"[bricksmith] {changed} catalog path(s) on DBFS/volumes mapped to "
                f"{paths.dbfs} and {paths.volumes}",
                flush=True,
            )

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, pipeline: Any) -> None:
        self._metrics = MetricsLog()
        with self._lock:
            self._started = 0
            try:
                self._nodes = len(pipeline.nodes)
            except Exception:  # a pipeline object of another shape: the count is unknown
                self._nodes = 0

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        if not os.environ.get("BRICKSMITH_DBFS_ROOT"):
            return
        with self._lock:
            self._started += 1
            started, total = self._started, max(self._nodes, self._started)
        # the format bricksmith.run_position reads (the live table's cell/node column)
        print(f"[bricksmith] node {started}/{total}: {getattr(node, 'name', node)}", flush=True)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        paths = PathMap.from_env()
        if paths is None or self._catalog is None:
            return
        target = _filepath(self._catalog, dataset_name)
        if target and paths.escapes(target):
            raise EscapingWriteError(
                f"dataset {dataset_name!r} would write to {target} on this machine, not to the "
                f"emulated DBFS ({paths.dbfs}): bricksmith maps /dbfs/..., dbfs:/... and "
                "/Volumes/... paths of the catalog; write through a catalog dataset"
            )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if os.environ.get("BRICKSMITH_METRICS_FILE"):
            kind = dataset_kind(_dataset(self._catalog, dataset_name))
            self._metrics.saved(dataset_name, data, kind)

    @hook_impl
    def after_pipeline_run(self, run_result: Any) -> None:
        path = os.environ.get("BRICKSMITH_METRICS_FILE")
        if not path:
            return
        if isinstance(run_result, dict):
            self._metrics.free_outputs(run_result)
        try:
            self._metrics.write(path)
        except OSError as exc:
            logger.warning("bricksmith: could not write the run's metrics to %s: %s", path, exc)


def _dataset(catalog: Any, name: str) -> Any:
    try:
        return catalog.get(name) if catalog is not None else None
    except Exception:  # best effort: only used to describe or guard
        return None


def _filepath(catalog: Any, name: str) -> str | None:
    """Where the dataset ``name`` writes, as its own description says (None if unknown)."""
    dataset = _dataset(catalog, name)
    try:
        described = dataset._describe() if dataset is not None else {}
    except Exception:  # a dataset that cannot describe itself is not guarded
        return None
    for key in ("filepath", "path"):
        value = described.get(key) if isinstance(described, dict) else None
        if value is not None and not isinstance(value, (dict, list)):
            return str(value)
    return None


# Kedro's entry point protocol registers an object with the hook methods: this one.
hooks = RunHooks()
