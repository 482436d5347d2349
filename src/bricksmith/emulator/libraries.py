"""Cluster libraries (Libraries API 2.0), counted.

What is emulated, with the source of each behaviour:

- ``POST /api/2.0/libraries/install``: "Add libraries to install on a cluster. The installation
  is asynchronous; it happens in the background after the completion of this request."
  (databricks-sdk 0.162 ``LibrariesAPI.install``). On a TERMINATED cluster it is 400
  ``INVALID_STATE`` — the older Libraries API reference: "This call will fail if the cluster is
  terminated" (quoted by the brickster R client's ``db_libs_install``; the status and message
  are *unverified*).
- ``POST /api/2.0/libraries/uninstall``: "The libraries won't be uninstalled until the cluster
  is restarted. A request to uninstall a library that is not currently installed is ignored."
  (``LibrariesAPI.uninstall``): the status becomes ``UNINSTALL_ON_RESTART``.
- ``GET /api/2.0/libraries/cluster-status``: libraries set to be installed, in the order they
  were added, then those marked for removal (``LibrariesAPI.cluster_status``); statuses from
  ``LibraryInstallStatus`` (PENDING, RESOLVING, INSTALLING, INSTALLED, FAILED,
  UNINSTALL_ON_RESTART, SKIPPED, RESTORED). Only ``requirements`` libraries install here
  ("Only Workspace paths and Unity Catalog Volumes paths are supported",
  ``Library.requirements``); other kinds are 501 (not emulated).
- A job task's ``libraries`` on an existing cluster are installed when the run starts, before
  its notebook, unless already on the cluster; they stay for later runs until the cluster
  restarts (*unverified*: whether a real cluster lists them in cluster-status and installs
  them again after a restart; here a restart drops them and the next run installs them again).
  Libraries added with ``libraries/install`` are installed again at every cluster start.
- A cluster start (``clusters/start``, a run starting it), restart or termination empties the
  cluster's Python environment: nothing stays installed (``Clusters.generation``).

Installing a requirements library builds (or reuses from the cache) the run environment of
that file (``executor.NotebookExecutor.build``); the counts say how many installs each cluster
did. Serverless notebook tasks take no job environment (``jobs.py``): their notebook installs.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bricksmith.emulator.clusters import Clusters
from bricksmith.emulator.wire import ApiError, Request, invalid, unsupported

LIBRARY_KINDS = ("jar", "egg", "whl", "pypi", "maven", "cran", "requirements")
# an environment for a requirements file: (interpreter, key), or raises EnvironmentBuildError
Builder = Callable[[str, Path], tuple[Path, str]]


def check_library(library: Any) -> dict[str, Any]:
    """A ``Library`` object as the API takes it: exactly one kind; a requirements file on a
    ``/Workspace/`` or ``/Volumes/`` path. Raises 400 otherwise, 501 for kinds not emulated."""
    if not isinstance(library, dict):
        raise invalid("Each library must be an object.")
    kinds = [k for k in LIBRARY_KINDS if library.get(k)]
    if len(kinds) != 1:
        raise invalid(f"A library must set exactly one of {', '.join(LIBRARY_KINDS)}.")
    if kinds[0] != "requirements":
        raise unsupported(f"{kinds[0]} libraries (only requirements files)")
    path = str(library["requirements"])
    if not path.startswith(("/Workspace/", "/Volumes/")):
        raise invalid(f"Requirements file {path} must be a Workspace path (/Workspace/...) or a "
                      "Unity Catalog Volumes path (/Volumes/...).")
    return {"requirements": path}


def check_libraries(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("libraries must be a list of library objects.")
    return [check_library(library) for library in value]


class Libraries:
    """Every cluster's libraries."""

    def __init__(self, clusters: Clusters, builder: Builder) -> None:
        self.clusters = clusters
        self.builder = builder
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._by_cluster: dict[str, dict[str, Any]] = {}
        self._installs: Counter[str] = Counter()

    def routes(self):
        return [
            ("GET", "/api/2.0/libraries/cluster-status", self.cluster_status),
            ("POST", "/api/2.0/libraries/install", self.install),
            ("POST", "/api/2.0/libraries/uninstall", self.uninstall),
        ]

    # -- state -------------------------------------------------------------------------------

    def _entries(self, cluster_id: str) -> list[dict[str, Any]]:
        """The cluster's library entries for its current start (call with the lock held)."""
        generation = self.clusters.generation(cluster_id)
        held = self._by_cluster.setdefault(cluster_id, {"generation": generation, "entries": []})
        if held["generation"] != generation:  # started, restarted or terminated since
            held["generation"] = generation
            held["entries"] = [
                {**entry, "status": "PENDING", "messages": [], "python": None}
                for entry in held["entries"]
                if entry["source"] == "API" and entry["status"] != "UNINSTALL_ON_RESTART"
            ]
        return held["entries"]

    def installs(self, cluster_id: str) -> int:
        """How many library installs the cluster did (every start counts again)."""
        with self._lock:
            return self._installs[cluster_id]

    def counts(self) -> dict[str, Any]:
        """``{"cluster_installs": {cluster: n}}`` (tests, benchmark)."""
        with self._lock:
            return {"cluster_installs": dict(self._installs)}

    # -- a run's set-up ----------------------------------------------------------------------

    def install_for_run(self, cluster_id: str, libraries: list[dict[str, Any]],
                        log_path: Path) -> tuple[int, tuple[Path, str] | None]:
        """Install the task's ``libraries`` (and any pending ones) on the cluster, before the
        run's notebook: ``(installs done, (interpreter, key) of the cluster's environment or
        None when no requirements library is installed)``. Raises EnvironmentBuildError (the
        library is then FAILED)."""
        with self._lock:
            entries = self._entries(cluster_id)
            for library in libraries:
                if not any(e["library"] == library for e in entries):
                    entries.append({"library": library, "status": "PENDING", "messages": [],
                                    "source": "JOB", "python": None})
        done = self._install_pending(cluster_id, log_path)
        with self._lock:
            ready = [e for e in self._entries(cluster_id) if e["python"] is not None]
            return done, (ready[-1]["python"] if ready else None)

    def _install_pending(self, cluster_id: str, log_path: Path) -> int:
        from bricksmith.errors import EnvironmentBuildError

        done = 0
        while True:
            with self._lock:
                entries = self._entries(cluster_id)
                entry = next((e for e in entries if e["status"] == "PENDING"), None)
                if entry is None:
                    if not any(e["status"] == "INSTALLING" for e in entries):
                        return done
                    # another run is installing: this one waits for it, as on a cluster
                    self._changed.wait(0.1)
                    continue
                entry["status"] = "INSTALLING"
                generation = self.clusters.generation(cluster_id)
            path = entry["library"]["requirements"]
            try:
                built = self.builder(path, log_path)
            except EnvironmentBuildError as exc:
                with self._lock:
                    entry["status"], entry["messages"] = "FAILED", [exc.message]
                    self._changed.notify_all()
                raise
            with self._lock:
                if self.clusters.generation(cluster_id) != generation:
                    continue  # the cluster restarted meanwhile: nothing of it is left
                entry["status"], entry["python"] = "INSTALLED", built
                self._installs[cluster_id] += 1
                self._changed.notify_all()
                done += 1

    # -- endpoints ---------------------------------------------------------------------------

    def _cluster(self, cluster_id: Any) -> str:
        if not cluster_id or not self.clusters.exists(str(cluster_id)):
            raise invalid(f"Cluster {cluster_id} does not exist")
        return str(cluster_id)

    def cluster_status(self, req: Request) -> dict[str, Any]:
        cluster_id = self._cluster(req.required("cluster_id"))
        with self._lock:
            entries = self._entries(cluster_id)
            ordered = ([e for e in entries if e["status"] != "UNINSTALL_ON_RESTART"]
                       + [e for e in entries if e["status"] == "UNINSTALL_ON_RESTART"])
            statuses = []
            for entry in ordered:
                status: dict[str, Any] = {"library": entry["library"], "status": entry["status"],
                                          "is_library_for_all_clusters": False}
                if entry["messages"]:
                    status["messages"] = list(entry["messages"])
                statuses.append(status)
        answer: dict[str, Any] = {"cluster_id": cluster_id}
        if statuses:
            answer["library_statuses"] = statuses
        return answer

    def install(self, req: Request) -> dict[str, Any]:
        body = req.json()
        cluster_id = self._cluster(body.get("cluster_id"))
        libraries = check_libraries(body.get("libraries"))
        state = self.clusters.state(cluster_id)
        if state in ("TERMINATED", "TERMINATING"):
            raise ApiError(400, "INVALID_STATE",
                           f"Cluster {cluster_id} is in unexpected state {state.title()}.")
        with self._lock:
            entries = self._entries(cluster_id)
            for library in libraries:
                if not any(e["library"] == library for e in entries):
                    entries.append({"library": library, "status": "PENDING", "messages": [],
                                    "source": "API", "python": None})
        log = self.clusters_log(cluster_id)
        threading.Thread(target=self._install_quietly, args=(cluster_id, log),
                         name=f"emulator-libraries-{cluster_id}", daemon=True).start()
        return {}

    def _install_quietly(self, cluster_id: str, log: Path) -> None:
        from bricksmith.errors import EnvironmentBuildError

        with contextlib.suppress(EnvironmentBuildError):  # FAILED, with its message
            self._install_pending(cluster_id, log)

    def clusters_log(self, cluster_id: str) -> Path:
        """Where a cluster's background library installs log (set by the emulator)."""
        return self.log_folder / f"libraries-{cluster_id}.log"

    log_folder = Path(".")

    def uninstall(self, req: Request) -> dict[str, Any]:
        body = req.json()
        cluster_id = self._cluster(body.get("cluster_id"))
        libraries = check_libraries(body.get("libraries"))
        with self._lock:
            for entry in self._entries(cluster_id):
                if entry["library"] in libraries:
                    entry["status"] = "UNINSTALL_ON_RESTART"
        return {}
