"""The databricks backend: a real workspace, through databricks-sdk (imported only by its modules).

    workspace repo   Repos / Git folders API: /Repos/<user>/<name>
                     (notebooks see /Workspace/Repos/<user>/<name>)
    DBFS dbfs:/X     DBFS API (streaming create/add-block/close to a temporary name, then move);
                     notebooks see /dbfs/X
    /Volumes/...     Files API (one PUT, atomic)
    notebook         workspace import, SOURCE format, PYTHON, overwrite
    a run            a one-time job run (jobs/runs/submit) on ``cluster_id`` or serverless

Auth is the SDK's own: the target's ``host``/``profile``, DATABRICKS_HOST / DATABRICKS_TOKEN /
DATABRICKS_CONFIG_PROFILE, ~/.databrickscfg. No token passes through bricksmith's state or logs.
SDK errors are mapped (databricks_client) into bricksmith errors with hints.

The backend's services live beside it, one mixin each: ``databricks_client`` (the SDK client,
error translation), ``databricks_git_folder`` (Repos API), ``databricks_data`` and
``databricks_data_removal`` (DBFS, volumes), ``databricks_notebooks`` (Workspace API),
``databricks_jobs`` (job runs, clusters) and ``databricks_edits`` (edits made in the Git
folder).
"""

from __future__ import annotations

import threading
from pathlib import Path

from bricksmith.backends import databricks_http
from bricksmith.backends.databricks_client import (  # noqa: F401  (re-exported)
    DBFS_DENIED_HINT,
    RETRY_S,
    DatabricksClient,
)
from bricksmith.backends.databricks_data import DatabricksData
from bricksmith.backends.databricks_data_removal import DatabricksDataRemoval
from bricksmith.backends.databricks_edits import Exports, GitFolderEdits
from bricksmith.backends.databricks_git_folder import DatabricksGitFolder
from bricksmith.backends.databricks_jobs import DatabricksJobs, run_phase  # noqa: F401
from bricksmith.backends.databricks_notebooks import (  # noqa: F401  (re-exported)
    DatabricksNotebooks,
    _source_digest,
)
from bricksmith.errors import BackendError

PREFLIGHT_RETRY_S = 10  # an unreachable host fails in seconds, not in minutes


class DatabricksBackend(DatabricksJobs, DatabricksNotebooks, DatabricksGitFolder,
                        DatabricksData, DatabricksDataRemoval, GitFolderEdits,
                        DatabricksClient):
    name = "databricks"

    def __init__(
        self,
        *,
        host: str | None,
        profile: str | None,
        cluster_id: str | None,
        serverless: bool = False,
        client=None,
        poll_interval_s: float = 2.0,
        retry_policy: databricks_http.RetryPolicy | None = None,
        git_folder_parent: str | None = None,
        keep_dir: Path | None = None,
        project: Path | None = None,
    ) -> None:
        self.host, self.profile, self.cluster_id = host, profile, cluster_id
        self.serverless = serverless and not cluster_id
        self.retry_policy = retry_policy  # of server errors (None: databricks_http's)
        self.git_folder_parent = git_folder_parent
        self.keep_dir = keep_dir or Path(".bricksmith/databricks/workspace-edits")
        self.project = project  # the local project: its git holds the Git folder's commits
        self._exports = Exports()  # exported Git-folder files, by path and modified_at
        self.poll_interval_s = poll_interval_s
        self._client = client
        self._user: str | None = None
        self._lock = threading.Lock()
        self._cluster_lock = threading.Lock()

    def describe(self) -> str:
        where = self.host or (self._client.config.host if self._client else None)
        profile = f"profile {self.profile}" if self.profile else ""
        parts = [f"host {where}" if where else "", profile]
        shown = ", ".join(p for p in parts if p) or "SDK defaults"
        return f"Databricks workspace ({shown})"


    def preflight(self, *, runs: bool = False) -> None:
        """Fail early, before anything changes, when the workspace cannot be reached: the
        host is probed (seconds), then a quick client (short retry budget) reads the current
        user (current-user/me); ``runs``: runs will start, so the cluster must exist
        (clusters/get). Raises :class:`BackendError` naming the host and what to fix."""
        if self._client is None:
            self._probe_host()
        quick = self._client or self._make_client(PREFLIGHT_RETRY_S)
        with self.errors("read the current user"):
            self._user = quick.current_user.me().user_name
        if runs and self.cluster_id:  # the workspace answered: the SDK's whole retry budget
            self._check_cluster(self.client)

    def _check_cluster(self, client) -> None:
        """A cluster_id the workspace does not know: clusters/get answers 400
        INVALID_PARAMETER_VALUE "Cluster <id> does not exist", which databricks-sdk >= 0.25
        raises as ResourceDoesNotExist (databricks-sdk-py PR 591)."""
        from databricks.sdk import errors as sdk

        with self.errors(f"read the cluster {self.cluster_id}"):
            try:
                client.clusters.get(self.cluster_id)
            except (sdk.NotFound, sdk.InvalidParameterValue) as exc:
                if isinstance(exc, sdk.InvalidParameterValue) and "does not exist" not in str(
                        exc):
                    raise
                raise BackendError(
                    f"cluster {self.cluster_id} does not exist in the Databricks workspace "
                    f"{self._where() or self.describe()}",
                    hint="set cluster_id to an all-purpose cluster of this workspace (its id "
                    "is in the cluster's URL: Compute → the cluster), or serverless: true",
                ) from None
