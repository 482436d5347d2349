"""Clusters: the few states a job run's existing cluster goes through.

``start`` moves a TERMINATED cluster to PENDING, and it is RUNNING ``start_s`` seconds later;
a cluster put in PENDING, RESIZING or RESTARTING (``set_state``, or ``Cluster.state``) also
becomes RUNNING by itself ``start_s`` seconds later, as the SDK's ``ensure_cluster_is_running``
expects (it only waits for those states);
starting a cluster that is not TERMINATED is 400 ``INVALID_STATE`` (as on Databricks, which
``ClustersAPI.ensure_cluster_is_running`` relies on). ``delete`` (terminate) goes through
TERMINATING to TERMINATED. An unknown id is 400 ``INVALID_PARAMETER_VALUE`` "Cluster X does
not exist", which databricks-sdk turns into ``ResourceDoesNotExist``. States move lazily (on
read), so no thread is needed. A cluster with ``source="JOB"`` is a job cluster: runs/submit
refuses its id as ``existing_cluster_id`` (see ``jobs.py``). Served on the Clusters API 2.1 and,
for older clients (the legacy ``databricks-cli``), 2.0 paths.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bricksmith.emulator.wire import ApiError, Request, invalid

STATES = ("PENDING", "RUNNING", "RESTARTING", "RESIZING", "TERMINATING", "TERMINATED", "ERROR")


@dataclass(frozen=True)
class Cluster:
    """A cluster the emulated workspace has, and the state it starts in."""

    cluster_id: str
    cluster_name: str = "bricksmith-emulator"
    state: str = "TERMINATED"
    source: str = "UI"  # ClusterSource: UI / API for all-purpose clusters, JOB for job clusters


DEFAULT_CLUSTERS = (Cluster("0000-000000-emulator0"),)


class Clusters:
    def __init__(self, clusters: Iterable[Cluster], start_s: float, user: str) -> None:
        self.start_s = start_s
        self.user = user
        self._lock = threading.Lock()
        self._clusters: dict[str, dict[str, Any]] = {}
        for spec in clusters:
            if spec.state not in STATES:
                raise ValueError(f"cluster {spec.cluster_id}: unknown state {spec.state!r}")
            self._clusters[spec.cluster_id] = {
                "name": spec.cluster_name,
                "state": spec.state,
                "next": self._settles(spec.state),  # (state, at monotonic time)
                "message": "",
                "start_time": int(time.time() * 1000),
                "source": spec.source,
                "generation": 0,  # a start, restart or termination empties its environment
            }

    def routes(self):
        return [
            (method, f"/api/{version}/clusters/{name}", handler)
            for version in ("2.1", "2.0")
            for method, name, handler in (
                ("GET", "get", self.get),
                ("GET", "list", self.list),
                ("POST", "start", self.start),
                ("POST", "delete", self.terminate),
            )
        ]

    def _settles(self, state: str) -> tuple[str, float] | None:
        """Where a cluster in ``state`` goes by itself: PENDING, RESIZING and RESTARTING
        become RUNNING ``start_s`` seconds later."""
        if state in ("PENDING", "RESIZING", "RESTARTING"):
            return ("RUNNING", time.monotonic() + self.start_s)
        return None

    def ids(self) -> list[str]:
        return list(self._clusters)

    def generation(self, cluster_id: str) -> int:
        """How many times the cluster was started, restarted or terminated: its libraries and
        Python environment last one generation (``libraries.py``)."""
        with self._lock:
            return self._find(cluster_id)["generation"]

    def source(self, cluster_id: str) -> str:
        with self._lock:
            return self._find(cluster_id)["source"]

    # -- state -------------------------------------------------------------------------------

    def _find(self, cluster_id: Any) -> dict[str, Any]:
        cluster = self._clusters.get(str(cluster_id or ""))
        if cluster is None:
            raise invalid(f"Cluster {cluster_id} does not exist")
        following = cluster["next"]
        if following and time.monotonic() >= following[1]:
            cluster["state"], cluster["next"] = following[0], None
            cluster["message"] = ""
        return cluster

    def exists(self, cluster_id: str) -> bool:
        return cluster_id in self._clusters

    def state(self, cluster_id: str) -> str:
        with self._lock:
            return self._find(cluster_id)["state"]

    def set_state(self, cluster_id: str, state: str) -> None:
        """Force a cluster's state (tests)."""
        if state not in STATES:
            raise ValueError(f"unknown cluster state {state!r}")
        with self._lock:
            cluster = self._find(cluster_id)
            if state not in ("RUNNING", "RESIZING"):  # a resize keeps the driver
                cluster["generation"] += 1
            cluster["state"], cluster["message"] = state, ""
            cluster["next"] = self._settles(state)

    def settle(self, cluster_id: str, state: str) -> None:
        """Put the cluster in PENDING, RESIZING or RESTARTING, from which it becomes RUNNING by
        itself after the start time, as a real cluster does (tests; issue 16.2)."""
        if state not in ("PENDING", "RESIZING", "RESTARTING"):
            raise ValueError(f"{state!r} does not become RUNNING by itself")
        with self._lock:
            cluster = self._find(cluster_id)
            if state != "RESIZING":  # a resize keeps the driver and its environment
                cluster["generation"] += 1
            cluster["state"], cluster["message"] = state, f"The cluster is {state.lower()}."
            cluster["next"] = ("RUNNING", time.monotonic() + self.start_s)

    def ensure_starting(self, cluster_id: str) -> None:
        """Start the cluster if it is TERMINATED (what a job run on it does)."""
        with self._lock:
            cluster = self._find(cluster_id)
            if cluster["state"] == "TERMINATED":
                self._start(cluster, "Starting the cluster for a job run.")

    def _start(self, cluster: dict[str, Any], message: str) -> None:
        cluster["state"], cluster["message"] = "PENDING", message
        cluster["generation"] += 1
        cluster["next"] = ("RUNNING", time.monotonic() + self.start_s)
        cluster["start_time"] = int(time.time() * 1000)

    def info(self, cluster_id: str, cluster: dict[str, Any]) -> dict[str, Any]:
        return {
            "cluster_id": cluster_id,
            "cluster_name": cluster["name"],
            "state": cluster["state"],
            "state_message": cluster["message"],
            "spark_version": "15.4.x-scala2.12",
            "node_type_id": "emulator",
            "num_workers": 0,
            "creator_user_name": self.user,
            "start_time": cluster["start_time"],
            "cluster_source": cluster["source"],
        }

    # -- endpoints ---------------------------------------------------------------------------

    def get(self, req: Request) -> dict[str, Any]:
        cluster_id = req.required("cluster_id")
        with self._lock:
            return self.info(cluster_id, self._find(cluster_id))

    def list(self, req: Request) -> dict[str, Any]:
        with self._lock:
            return {"clusters": [self.info(cid, self._find(cid)) for cid in self._clusters]}

    def start(self, req: Request) -> dict[str, Any]:
        cluster_id = req.required("cluster_id")
        with self._lock:
            cluster = self._find(cluster_id)
            if cluster["state"] != "TERMINATED":
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"Cluster {cluster_id} is in unexpected state {cluster['state'].title()}.",
                )
            self._start(cluster, "Starting the cluster.")
        return {}

    def terminate(self, req: Request) -> dict[str, Any]:
        cluster_id = req.required("cluster_id")
        with self._lock:
            cluster = self._find(cluster_id)
            if cluster["state"] not in ("TERMINATED", "TERMINATING"):
                cluster["state"], cluster["message"] = "TERMINATING", "Terminating the cluster."
                cluster["generation"] += 1
                cluster["next"] = ("TERMINATED", time.monotonic() + self.start_s)
        return {}
