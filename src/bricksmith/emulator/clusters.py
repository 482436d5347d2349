"""Clusters: the few states a job run's existing cluster goes through.

``start`` moves a TERMINATED cluster to PENDING, and it is RUNNING ``start_s`` seconds later;
starting a cluster that is not TERMINATED is 400 ``INVALID_STATE`` (as on Databricks, which
``ClustersAPI.ensure_cluster_is_running`` relies on). ``delete`` (terminate) goes through
TERMINATING to TERMINATED. An unknown id is 400 ``INVALID_PARAMETER_VALUE`` "Cluster X does
not exist", which databricks-sdk turns into ``ResourceDoesNotExist``. States move lazily (on
read), so no thread is needed.
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
                "next": None,  # (state, at monotonic time)
                "message": "",
                "start_time": int(time.time() * 1000),
            }

    def routes(self):
        return [
            ("GET", "/api/2.1/clusters/get", self.get),
            ("GET", "/api/2.1/clusters/list", self.list),
            ("POST", "/api/2.1/clusters/start", self.start),
            ("POST", "/api/2.1/clusters/delete", self.terminate),
        ]

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
            cluster["state"], cluster["next"], cluster["message"] = state, None, ""

    def settle(self, cluster_id: str, state: str) -> None:
        """Put the cluster in PENDING, RESIZING or RESTARTING, from which it becomes RUNNING by
        itself after the start time, as a real cluster does (tests; issue 16.2)."""
        if state not in ("PENDING", "RESIZING", "RESTARTING"):
            raise ValueError(f"{state!r} does not become RUNNING by itself")
        with self._lock:
            cluster = self._find(cluster_id)
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
            "cluster_source": "UI",
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
                cluster["next"] = ("TERMINATED", time.monotonic() + self.start_s)
        return {}
