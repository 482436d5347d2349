"""The databricks backend: a real workspace, through databricks-sdk (imported only here).

    workspace repo   Repos / Git folders API: /Repos/<user>/<name>
                     (notebooks see /Workspace/Repos/<user>/<name>)
    DBFS dbfs:/X     DBFS API (streaming create/add-block/close to a temporary name, then move);
                     notebooks see /dbfs/X
    /Volumes/...     Files API (one PUT, atomic)
    notebook         workspace import, SOURCE format, PYTHON, overwrite
    a run            a one-time job run (jobs/runs/submit) on ``cluster_id`` or serverless

Auth is the SDK's own: the target's ``host``/``profile``, DATABRICKS_HOST / DATABRICKS_TOKEN /
DATABRICKS_CONFIG_PROFILE, ~/.databrickscfg. No token passes through bricksmith's state or logs.
SDK errors are mapped here into bricksmith errors with hints.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.backends import databricks_http
from bricksmith.backends.base import Removal, RunOutcome
from bricksmith.backends.databricks_data import UPLOAD_WORKERS, DatabricksData
from bricksmith.backends.databricks_edits import Exports, GitFolderEdits
from bricksmith.errors import BackendError, GitError, RunFailedError

RETRY_S = 120  # the SDK retries transient errors (429, 503, dropped connections) this long
PREFLIGHT_RETRY_S = 10  # an unreachable host fails in seconds, not in minutes
PROBE_TIMEOUT_S = 5  # a TCP connect to the workspace before the SDK's first call
CANCEL_WAIT_S = 10 * 60  # a cancelled job run stops within this long
TERMINAL_STATES = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
DBFS_DENIED_HINT = (
    "the workspace may have DBFS root disabled (new accounts have none): put the data in a "
    "Unity Catalog volume, data[].target: /Volumes/<catalog>/<schema>/<volume>/data; or ask a "
    "workspace admin for access to that DBFS folder"
)
CLUSTER_SETTLING = {"PENDING", "RESIZING", "RESTARTING"}  # become RUNNING by themselves
CLUSTER_WAIT_S = 20 * 60  # databricks-sdk's ensure_cluster_is_running waits this long
OUTPUT_LIMIT_MB = 5  # runs/get-output: notebook_output.result is cut at 5 MB (truncated)


class DatabricksBackend(DatabricksData, GitFolderEdits):
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

    # -- client and errors ---------------------------------------------------------------------

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = self._make_client(RETRY_S)
            return self._client

    def _make_client(self, retry_s: int):
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        with self.errors("configure the Databricks client"):
            config = Config(host=self.host, profile=self.profile, retry_timeout_seconds=retry_s,
                            max_connection_pools=UPLOAD_WORKERS)  # urllib3's pool_maxsize
            client = WorkspaceClient(config=config)
        databricks_http.install(client.api_client, self.retry_policy)  # 500/502/504
        return client

    def _where(self) -> str | None:
        """The workspace URL in use: the target's, the client's, else DATABRICKS_HOST or the
        profile's ``host`` in the config file (read without the SDK: no network)."""
        import configparser
        import os

        if self.host:
            return self.host
        if self._client is not None:
            return self._client.config.host
        if os.environ.get("DATABRICKS_HOST"):
            return os.environ["DATABRICKS_HOST"]
        file = Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()
        parser = configparser.ConfigParser()
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(file)
        section = self.profile or os.environ.get("DATABRICKS_CONFIG_PROFILE") or "DEFAULT"
        with contextlib.suppress(configparser.Error, KeyError):
            return parser[section].get("host") or None
        return None

    def workspace_url(self) -> str | None:
        """The workspace URL in use, read without the network (None: none is configured)."""
        return self._where()

    def _login_hint(self) -> str:
        where = self._where()
        if where:
            return (f"create a personal access token in {where} (Settings → Developer → Access "
                    f"tokens) and export DATABRICKS_TOKEN, or run `databricks auth login --host "
                    f"{where}`" + (f" and use profile {self.profile}" if self.profile else ""))
        return (f"check profile {self.profile or 'DEFAULT'} in ~/.databrickscfg, or run "
                "`databricks auth login`")

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Map SDK and network errors raised while doing ``action`` into bricksmith errors.

        A wrong or expired token is answered 403 ``{"error_code": 403, "message": "Invalid
        access token."}`` (databricks-sdk-go issues 795, 873, 917), which the SDK raises as
        PermissionDenied: it is reported as a login problem, naming the host."""
        from databricks.sdk import errors as sdk

        who = self.describe()
        login = (
            f"set DATABRICKS_TOKEN for {self.host}"
            if self.host
            else f"check profile {self.profile or 'DEFAULT'} in ~/.databrickscfg"
        )
        try:
            yield
        except databricks_http.ServerErrorsPersisted as exc:
            raise BackendError(
                f"{who} kept answering with server errors while trying to {action}: {exc}",
                hint="the workspace (or a gateway in front of it) is failing; "
                "apply again later to resume",
            ) from None
        except databricks_http.ServerErrorUnconfirmed as exc:
            raise BackendError(
                f"{who} answered with a server error while trying to {action}: {exc}",
                hint="apply again to resume: what the call made is looked up before it is "
                "made again",
            ) from None
        except sdk.Unauthenticated as exc:
            raise BackendError(
                f"{who} rejected the credentials while trying to {action}: {_short(exc)}",
                hint=self._login_hint(),
            ) from None
        except sdk.PermissionDenied as exc:
            if "invalid access token" in str(exc).lower():
                raise BackendError(
                    f"the Databricks workspace {self._where() or who} rejected the access "
                    "token (wrong or expired) "
                    f"while trying to {action}",
                    hint=self._login_hint(),
                ) from None
            if "dbfs:/" in action:
                raise BackendError(
                    f"{who}: not allowed to {action}: {_short(exc)}", hint=DBFS_DENIED_HINT
                ) from None
            raise BackendError(
                f"{who}: not allowed to {action}: {_short(exc)}",
                hint="ask a workspace admin for the permission, or use another target",
            ) from None
        except sdk.NotFound as exc:
            raise BackendError(f"{who}: not found while trying to {action}: {exc}") from None
        except sdk.DatabricksError as exc:
            raise BackendError(f"{who}: could not {action}: {exc}") from None
        except ValueError as exc:  # the SDK's config errors (no host, no credentials)
            if "auth" in str(exc).lower() or "host" in str(exc).lower():
                raise BackendError(
                    f"cannot connect to Databricks ({who}): {exc}",
                    hint=f"{login}; the SDK reads DATABRICKS_HOST/DATABRICKS_TOKEN too",
                ) from None
            raise
        except TimeoutError as exc:
            last = exc.__cause__
            if isinstance(last, sdk.DatabricksError):  # the SDK retried it for its budget
                spent = str(exc).removeprefix("Timed out after ")
                throttled = isinstance(last, (sdk.TooManyRequests, sdk.TemporarilyUnavailable))
                raise BackendError(
                    f"{who} kept answering {databricks_http.describe_answer(last)} "
                    f"for {spent} while trying to {action}",
                    hint="the workspace is rate-limiting (429) or unavailable (503): try "
                    "again later, or with fewer steps at once (-p); apply resumes"
                    if throttled else "the workspace kept failing: try again later; "
                    "apply resumes",
                ) from None
            raise BackendError(
                f"{who} did not answer while trying to {action}: {exc}",
                hint="check the host and your network; apply again to resume",
            ) from None
        except OSError as exc:
            raise BackendError(
                f"{who} did not answer while trying to {action}: {exc}",
                hint="check the host and your network; apply again to resume",
            ) from None

    def _probe_host(self) -> None:
        """Fail in seconds, naming the host, when nothing answers at the workspace URL (the
        SDK would first spend its retry budget on host metadata, then on the call)."""
        import os
        import socket
        from urllib.parse import urlsplit

        if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                           "http_proxy", "ALL_PROXY", "all_proxy")):
            return  # the SDK goes through the proxy: a direct connection proves nothing
        where = self._where()
        split = urlsplit(where or "")
        if not split.hostname:
            return
        port = split.port or (443 if split.scheme == "https" else 80)
        why = None
        try:
            with socket.create_connection((split.hostname, port), timeout=PROBE_TIMEOUT_S) as conn:
                if split.scheme == "https":
                    why = _tls_refusal(conn, split.hostname)
        except socket.gaierror:
            why = f"DNS lookup failed (the host name {split.hostname} does not resolve)"
        except TimeoutError:
            why = f"nothing answered on port {port} within {PROBE_TIMEOUT_S:g} s"
        except OSError as exc:
            why = f"the connection to port {port} failed ({exc.strerror or exc})"
        if why:
            source = ("targets.<name>.host" if self.host
                      else "DATABRICKS_HOST" if os.environ.get("DATABRICKS_HOST")
                      else f"the host of profile {self.profile or 'DEFAULT'} in ~/.databrickscfg")
            raise BackendError(
                f"cannot reach the Databricks workspace {where}: {why}",
                hint=f"check {source} (the workspace URL, e.g. "
                "https://adb-1234567890123456.7.azuredatabricks.net) and your network",
            )

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

    @property
    def user(self) -> str:
        if self._user is None:
            with self.errors("read the current user"):
                self._user = self.client.current_user.me().user_name
        return self._user

    # -- workspace repos (Git folders; see databricks_repos.py) --------------------------------

    def _git_folder_parent(self) -> str:
        """The folder holding the Git folder, as the API names it (no /Workspace prefix)."""
        parent = self.git_folder_parent or "/Repos/{user}"
        return parent.replace("{user}", self.user).removeprefix("/Workspace").rstrip("/")

    def repo_path(self, name: str) -> str:
        return f"/Workspace{self._repo_api_path(name)}"

    def _repo_api_path(self, name: str) -> str:
        return f"{self._git_folder_parent()}/{name}"

    def sync_repo(
        self, *, name: str, location: str, branch: str, commit: str, token_env: str | None,
        git: dict[str, Any] | None = None, project: Path | None = None,
        log: Callable[[str], None] = lambda message: None, previous: dict | None = None,
    ) -> dict[str, Any]:
        """The Git folder ``name`` on ``branch`` at ``commit``. ``previous``: what the last
        sync returned (its listing spares exports). ``git``: repo.provider,
        git_username, git_email; ``project``: the local project (its git history tells
        uncommitted changes in the Git folder apart). Edits in the folder (the workspace.repo
        step refuses them unless told to discard) are discarded after a copy of each file the
        commit does not hold is kept under ``keep_dir`` (``_kept``, ``_kept_files``), as on the
        local backend. Raises GitError for an SSH or unknown-host remote."""
        import os

        from bricksmith.backends import databricks_edits as edits
        from bricksmith.backends import databricks_repos as repos

        git = git or {}
        provider = repos.provider_for(location, git.get("provider"))
        credential_id = None
        if token_env:
            token = os.environ.get(token_env)
            if not token:
                raise GitError(
                    f"environment variable {token_env} (repo.token_env) is not set",
                    hint=f"export {token_env}=<token> before running bricksmith",
                )
            with self.errors(f"set up the {provider} Git credential"):
                credential_id = repos.ensure_credential(self.client, provider, token, git, log)
        api_path = self._repo_api_path(name)
        with self.errors(f"create or update the workspace Git folder {api_path}"):
            repo = repos.find(self.client, api_path)
            created = repo is None
            if created:
                repo = repos.create(self.client, url=location, provider=provider,
                                    api_path=api_path, credential_id=credential_id)
            if repo is None:
                raise BackendError(f"workspace repo {api_path} could not be created or found")
            if repo.url and repo.url != location:
                raise BackendError(
                    f"workspace repo {api_path} is a clone of {repo.url}, not {location}",
                    hint="delete or rename that repo in the workspace, or change repo.remote",
                )
            # a folder made just now, or one whose clone never finished, holds no edits
            ready = None if created or not repo.head_commit_id else edits.before_pull(
                self.client, api_path, repo.head_commit_id, commit, project or self.project,
                self.keep_dir, self._exports,
                recorded=(previous or {}).get("_listing")
                if (previous or {}).get("commit") == repo.head_commit_id else None)
            self._pull(repo.id, api_path, branch, discard=ready is not None)
            if ready is not None:
                edits.remove_stray(self.client, api_path, ready["stray"])
            repo = self.client.repos.get(repo.id)
            listed = edits.recorded_times(self.client, api_path)
        if repo.head_commit_id != commit:
            raise GitError(
                f"workspace repo {api_path} is at {str(repo.head_commit_id)[:10]} after pulling "
                f"{branch}, not at the pushed commit {commit[:10]}",
                hint="someone pushed to the branch since; apply again to commit and push on top",
            )
        kept = {"_kept": str(ready["kept"]), "_kept_files": ready["kept_files"]} \
            if ready is not None and ready["kept"] is not None else {}
        return {
            "path": self.repo_path(name),
            "repo_id": repo.id,
            "branch": branch,
            "commit": commit,
            "_listing": listed,  # {path: modified_at}: what repo_edits need not export
            **kept,
        }

    def _pull(self, repo_id: int, api_path: str, branch: str, discard: bool) -> None:
        from databricks.sdk import errors as sdk

        options = {"dangerously_force_discard_all": True} if discard else {}
        try:
            self.client.repos.update(repo_id, branch=branch, **options)
        except (sdk.BadRequest, sdk.InvalidState, sdk.ResourceConflict) as exc:
            raise GitError(
                f"the workspace Git folder /Workspace{api_path} could not pull {branch}: {exc}",
                hint="if it has uncommitted changes that conflict with the pull, copy what you "
                "want into the project and reset the Git folder in the workspace (or run "
                "apply --discard-workspace-edits), then apply again",
            ) from None

    # what the workspace holds is known only by asking it: no probe stands for these checks,
    # so plans of Databricks targets are never memoised
    def repo_probes(self, outputs: dict[str, Any]) -> None:
        return None

    def notebook_probes(self, outputs: dict[str, Any]) -> None:
        return None

    def repo_drift(self, outputs: dict[str, Any], project: Path | None = None) -> list[str]:
        from databricks.sdk import errors as sdk

        from bricksmith.backends.workspace_edits import describe_edits

        with self.errors("read the workspace repo"):
            try:
                repo = self.client.repos.get(outputs["repo_id"])
            except sdk.NotFound:
                return [f"workspace repo {outputs['path']} is missing"]
            reasons = []
            if repo.head_commit_id != outputs["commit"]:
                reasons.append(
                    f"workspace repo is at {str(repo.head_commit_id)[:10]}, "
                    f"not {outputs['commit'][:10]}"
                )
            if repo.branch != outputs["branch"]:
                reasons.append(
                    f"workspace repo is on branch {repo.branch}, not {outputs['branch']}"
                )
            if repo.path and repo.head_commit_id:
                found = self._edits(repo, outputs, project)
                if found:
                    reasons.append("workspace Git folder has uncommitted changes: "
                                   + describe_edits(found))
        return reasons

    # -- DBFS and volumes: upload, upload_drift, remove_upload (DatabricksData) ------------

    # -- notebooks -------------------------------------------------------------------------------

    def notebook_path(self, workflow: str) -> str:
        return f"/Users/{self.user}/.bricksmith/{workflow}/run"

    def deploy_notebook(self, path: str, source: str) -> dict[str, Any]:
        from databricks.sdk.service.workspace import ImportFormat, Language

        with self.errors(f"import the notebook {path}"):
            self.client.workspace.mkdirs(str(PurePosixPath(path).parent))
            self.client.workspace.import_(
                path,
                content=base64.b64encode(source.encode()).decode(),
                format=ImportFormat.SOURCE,
                language=Language.PYTHON,
                overwrite=True,
            )
        return {"path": path, "sha256": _source_digest(source)}

    def notebook_drift(self, outputs: dict[str, Any]) -> list[str]:
        text = self._notebook_source(outputs)
        if text is None:
            return [f"notebook {outputs['path']} is missing"]
        if _source_digest(text.decode(errors="replace")) != outputs["sha256"]:
            return [f"notebook {outputs['path']} was edited in the workspace"]
        return []

    def notebook_edited(self, outputs: dict[str, Any]) -> bytes | None:
        """The deployed notebook's SOURCE when it was edited in the workspace since apply
        deployed it (None: as deployed, or gone)."""
        text = self._notebook_source(outputs)
        if text is None or _source_digest(text.decode(errors="replace")) == outputs["sha256"]:
            return None
        return text

    def _notebook_source(self, outputs: dict[str, Any]) -> bytes | None:
        from databricks.sdk import errors as sdk
        from databricks.sdk.service.workspace import ExportFormat

        with self.errors(f"read the notebook {outputs['path']}"):
            try:
                exported = self.client.workspace.export(outputs["path"], format=ExportFormat.SOURCE)
            except sdk.NotFound:
                return None
        return base64.b64decode(exported.content or "")

    # -- destroy ---------------------------------------------------------------------------------

    def _repo_or_none(self, outputs: dict[str, Any]):
        """The workspace repo recorded in ``outputs`` (by id), or None when it is gone (a repo
        moved elsewhere since is someone's own now: gone too)."""
        from databricks.sdk import errors as sdk

        try:
            repo = self.client.repos.get(outputs["repo_id"])
        except sdk.NotFound:
            return None
        recorded = outputs["path"].removeprefix("/Workspace")
        if repo.path and repo.path.removeprefix("/Workspace") != recorded:
            return None
        return repo

    def repo_exists(self, outputs: dict[str, Any]) -> bool:
        with self.errors(f"read the workspace repo {outputs['path']}"):
            return self._repo_or_none(outputs) is not None

    def remove_repo(self, outputs: dict[str, Any]) -> Removal:
        from databricks.sdk import errors as sdk

        with self.errors(f"delete the workspace repo {outputs['path']}"):
            if self._repo_or_none(outputs) is None:
                return Removal()
            try:
                self.client.repos.delete(outputs["repo_id"])
            except sdk.NotFound:  # deleted meanwhile
                return Removal()
        return Removal(removed=1)

    def _exists(self, path: str) -> bool:
        from databricks.sdk import errors as sdk

        try:
            self.client.workspace.get_status(path)
        except sdk.NotFound:
            return False
        return True

    def notebook_exists(self, outputs: dict[str, Any]) -> bool:
        with self.errors(f"read the notebook {outputs['path']}"):
            return self._exists(outputs["path"])

    def remove_notebook(self, outputs: dict[str, Any]) -> Removal:
        from databricks.sdk import errors as sdk

        path = PurePosixPath(outputs["path"])
        ours = path.parent.parent.name == ".bricksmith"  # .bricksmith/<workflow>/run
        doomed = str(path.parent) if ours else str(path)
        with self.errors(f"delete the notebook {path}"):
            existed = self._exists(str(path))
            with contextlib.suppress(sdk.NotFound):
                self.client.workspace.delete(doomed, recursive=ours)
            if ours:  # the .bricksmith folder too, once no workflow is left in it
                dot = str(path.parent.parent)
                with contextlib.suppress(sdk.NotFound, sdk.BadRequest):
                    if not list(self.client.workspace.list(dot)):
                        self.client.workspace.delete(dot)
        return Removal(removed=int(existed))

    # -- runs ------------------------------------------------------------------------------------

    def _ensure_cluster(self, log: Callable[[str], None]) -> None:
        """Start the cluster when it is TERMINATED(ING); wait for it while it is PENDING,
        RESIZING or RESTARTING (these become RUNNING by themselves). databricks-sdk's
        ``ensure_cluster_is_running`` waits up to 20 minutes, then raises TimeoutError
        (``mixins/compute.py``): that is a cluster that did not start, not a network fault."""
        if not self.cluster_id:
            return
        # Runs start in parallel: one of them starts the cluster, the others wait for it.
        with self._cluster_lock, self.errors(f"start the cluster {self.cluster_id}"):
            state = self.client.clusters.get(self.cluster_id).state
            shown = state.value if state else "unknown"
            if shown in CLUSTER_SETTLING:
                log(f"cluster {self.cluster_id} is {shown}; waiting until it is RUNNING")
            elif shown != "RUNNING":
                log(f"cluster {self.cluster_id} is {shown}; starting it")
            try:
                self.client.clusters.ensure_cluster_is_running(self.cluster_id)
            except TimeoutError as exc:
                if isinstance(exc.__cause__, Exception):  # the SDK's retries of a failing call
                    raise
                raise BackendError(
                    f"cluster {self.cluster_id} did not start: it was not RUNNING after "
                    f"waiting {CLUSTER_WAIT_S // 60} minutes (it was {shown}): {exc}",
                    hint="look at the cluster's event log in the workspace (Compute > the "
                    "cluster > Event log); apply again once it runs",
                ) from None
            except RuntimeError as exc:  # the SDK: "Cluster <name> is ERROR: <message>"
                raise BackendError(
                    f"cluster {self.cluster_id} cannot run jobs: {exc}",
                    hint="fix or restart the cluster in the workspace, or set another "
                    "cluster_id",
                ) from None

    def _submit(self, notebook: str, run_name: str, widgets: dict[str, str], token: str,
                timeout_s: float, libraries: list | None = None) -> int:
        """Submit a one-time run (``jobs/runs/submit``) of ``notebook`` on the cluster, or on
        serverless compute (no cluster and no task environment: a workspace refuses a job
        environment on a notebook task, see ``databricks_libraries.py``; the notebook's
        install cell installs the requirements each run). ``libraries``: a cluster task's
        libraries (``databricks_libraries.task_libraries``)."""
        from databricks.sdk import errors as sdk
        from databricks.sdk.service.jobs import NotebookTask, Source, SubmitTask

        if not self.cluster_id and not self.serverless:
            raise BackendError(
                "this databricks target has no cluster_id and is not serverless",
                hint="set cluster_id: <an all-purpose cluster's id>, or serverless: true",
            )
        task = SubmitTask(
            task_key="notebook",
            notebook_task=NotebookTask(
                notebook_path=notebook, base_parameters=widgets, source=Source.WORKSPACE
            ),
            existing_cluster_id=self.cluster_id or None,
            libraries=(libraries or None) if self.cluster_id else None,
        )
        with self.errors(f"submit the job run {run_name}"):
            try:
                waiter = self.client.jobs.submit(
                    run_name=run_name,
                    tasks=[task],
                    idempotency_token=token,
                    timeout_seconds=int(timeout_s),
                )
            except (sdk.BadRequest, sdk.InvalidParameterValue, sdk.PermissionDenied) as exc:
                if self.cluster_id or "invalid access token" in str(exc).lower():
                    raise
                raise BackendError(
                    f"{self.describe()} refused a serverless job run (no cluster): {exc}",
                    hint="serverless jobs may not be enabled for this workspace: set "
                    "cluster_id: <an all-purpose cluster's id> on the target instead of "
                    "serverless: true",
                ) from None
        return waiter.run_id

    def _requirement_set(self, notebook: str, requirements: str,
                         log: Callable[[str], None]) -> dict[str, Any]:
        """The task's libraries that install the requirement set once per cluster (see
        ``databricks_libraries.py``); serverless: none, the notebook installs each run."""
        from bricksmith.backends import databricks_libraries as libraries

        if not requirements:
            return {"libraries": None, "record": None}
        if not self.cluster_id:
            log(f"serverless: the run's notebook installs {requirements} itself (%pip, then a "
                "Python restart), on every run: Databricks refuses a job environment on a "
                "notebook task (\"A task environment can not be provided for notebook task\", "
                "dbt-databricks issue 1009)")
            return {"libraries": None,
                    "record": {"file": requirements, "as_library": False,
                               "installed_before": False, "per_run": True}}
        with self.errors(f"prepare the requirement set {requirements}"):
            prepared = libraries.prepare(self.client, cluster_id=self.cluster_id,
                                         notebook=notebook, requirements=requirements, log=log)
        task_libraries = libraries.task_libraries(prepared)
        record = {"file": prepared["file"], "as_library": task_libraries is not None,
                  "installed_before": prepared["cluster_status"] == "INSTALLED"}
        return {"libraries": task_libraries, "record": record}

    def _wait(self, run_id: int, timeout_s: float, log: Callable[[str], None]):
        deadline = time.monotonic() + timeout_s
        last = None
        delay = min(1.0, self.poll_interval_s)
        while True:
            with self.errors(f"read job run {run_id}"):
                run = self.client.jobs.get_run(run_id)
            state, _result, _message = run_phase(run)
            if state != last:
                page = f" — {run.run_page_url}" if run.run_page_url and last is None else ""
                log(f"job run {run_id}: {state}{page}")  # the page as soon as it is known
                last = state
            if state in TERMINAL_STATES:
                return run
            if time.monotonic() > deadline:
                with self.errors(f"cancel job run {run_id}"):
                    self.client.jobs.cancel_run(run_id)
                raise RunFailedError(
                    f"job run {run_id} did not finish within {timeout_s / 60:g} minutes; cancelled",
                    hint="raise runs[].timeout_minutes, or look at the run page",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, self.poll_interval_s)

    def _cancel_superseded(self, pending: dict[str, Any], log: Callable[[str], None]) -> None:
        """Cancel the job run of an earlier attempt of other params (``pending``, a step's
        checkpoint) if it is still in flight, and wait until it has stopped (Jobs API
        ``runs/cancel``: "canceled asynchronously ... may still be running" when the call
        returns; a no-op on a run already in a terminal state). A submission whose answer
        never came (no ``_run_id``) cannot be found by its idempotency token: the log says so."""
        run_id = pending.get("_run_id")
        if not run_id:
            log("an earlier submission of this run (other params) was interrupted before its "
                "job run id was known; if it started, it is not cancelled")
            return
        with self.errors(f"read job run {run_id}"):
            run = self.client.jobs.get_run(run_id)
        life = run_phase(run)[0]
        if life in TERMINAL_STATES:
            return
        log(f"job run {run_id} of the earlier params is {life}: "
            "cancelling it before submitting the new one")
        with self.errors(f"cancel job run {run_id}"):
            self.client.jobs.cancel_run(run_id)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while True:
            with self.errors(f"read job run {run_id}"):
                run = self.client.jobs.get_run(run_id)
            life = run_phase(run)[0]
            if life in TERMINAL_STATES:
                log(f"job run {run_id} cancelled ({life})")
                return
            if time.monotonic() > deadline:
                raise BackendError(
                    f"job run {run_id} (an earlier attempt with other params) did not stop "
                    f"within {CANCEL_WAIT_S / 60:g} minutes of being cancelled",
                    hint=f"cancel it on its run page ({run.run_page_url}), then apply again",
                )
            time.sleep(self.poll_interval_s)

    def run_notebook(
        self,
        *,
        notebook: str,
        run_name: str,
        widgets: dict[str, str],
        requirements: str,
        log_dir: Path,
        timeout_s: float,
        checkpoint: Callable[[dict[str, Any]], None],
        previous: dict[str, Any],
        log: Callable[[str], None],
        fingerprint: str = "",
        stream: Callable[[str], None] | None = None,
        log_path: Path | None = None,
    ) -> RunOutcome:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = Path(log_path) if log_path else log_dir / f"{run_name}.log"
        started = time.monotonic()
        # The checkpoint holds the run (``_token``, then ``_run_id``) with ``_pending`` set from
        # before its submission until the step's result is recorded (a failed run is given up
        # at once: the next apply submits anew). A pending run of this very fingerprint is
        # re-attached to, or its output adopted when it has finished: never submitted again
        # (its idempotency token makes a retried submit return that same run). One of other
        # params is cancelled first, so that two runs of one step never overlap.
        pending = previous if previous.get("_pending") else {}
        if pending and pending.get("_fingerprint") != fingerprint:
            self._cancel_superseded(pending, log)
            pending = {}
        token = pending.get("_token") or f"bricksmith-{fingerprint[:24]}-{uuid.uuid4().hex[:16]}"
        run_id = pending.get("_run_id")
        progress = {"_fingerprint": fingerprint, "_token": token, "_pending": True,
                    "_log": str(log_path)}
        if run_id:  # kept in the checkpoint: a kill now must not lose it
            progress["_run_id"] = run_id
        checkpoint(progress)
        requirement_set = None  # what this submission asked the compute to install
        if run_id:
            ended = pending.get("_result")
            log(f"adopting the finished job run {run_id} ({ended})" if ended
                else f"re-attaching to job run {run_id}")
        else:
            self._ensure_cluster(log)
            installs = self._requirement_set(notebook, requirements, log)
            requirement_set = installs["record"]
            run_id = self._submit(notebook, f"bricksmith {run_name}", widgets, token, timeout_s,
                                  installs["libraries"])
            progress["_run_id"] = run_id
            checkpoint(progress)
        try:
            run = self._wait(run_id, timeout_s, log)
        except RunFailedError:  # timed out and cancelled: the next apply submits anew
            checkpoint({**progress, "_pending": False, "_run_id": run_id})
            raise
        url = run.run_page_url
        log(f"run page: {url}")
        task_run_id = run.tasks[0].run_id if run.tasks else run_id
        with self.errors(f"read the output of job run {run_id}"):
            output = self.client.jobs.get_run_output(task_run_id)
        life, result, message = run_phase(run)
        ok = result == "SUCCESS"
        error = None if ok else (output.error or message
                                 or f"the job run ended {result or life}")
        trace = output.error_trace or ""
        notebook_output = output.notebook_output
        exit_value = notebook_output.result if notebook_output else None
        warnings = []
        if notebook_output is not None and notebook_output.truncated:
            # runs/get-output: the exit value is cut at 5 MB; its JSON is lost, not misread
            exit_value = None
            warnings.append(
                f"the notebook's exit value was cut by Databricks at its {OUTPUT_LIMIT_MB} MB "
                "limit (notebook_output.truncated): its metrics and effective params are lost; "
                "write large results to a file instead of dbutils.notebook.exit"
            )
            log(f"warning: job run {run_id}: {warnings[-1]}")
        from bricksmith.atomic import write_text_atomically

        write_text_atomically(
            log_path,
            f"job run {run_id} ({url})\nresult: {result}\n"
            + (f"exit value: {exit_value}\n" if exit_value else "")
            + "".join(f"warning: {w}\n" for w in warnings)
            + (f"error: {error}\n{trace}\n" if error else ""),
        )
        # a finished run stays pending until the step records its result (adopted on resume);
        # a failed one is given up now, and the next apply submits the run anew
        checkpoint({**progress, "_pending": ok, "_run_id": run_id, "_run_page_url": url,
                    "_result": result})
        return RunOutcome(
            ok=ok,
            exit_value=exit_value,
            error=error,
            log_path=str(log_path),
            log_tail="\n".join((trace or error or "").splitlines()[-40:]),
            duration_s=time.monotonic() - started,
            details={"run_id": run_id, "run_page_url": url,
                     **({"requirement_set": requirement_set} if requirement_set else {}),
                     **({"warnings": warnings} if warnings else {})},
        )


def _tls_refusal(conn, hostname: str) -> str | None:
    """Why a TLS handshake on the connected socket ``conn`` fails, verified as requests (the
    SDK's HTTP client) verifies: against $REQUESTS_CA_BUNDLE, $CURL_CA_BUNDLE or certifi's
    bundle; None when it succeeds. Seconds instead of the SDK's retries of a TLS error."""
    import os
    import ssl

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not bundle:
        try:
            import certifi  # requests' own bundle (a dependency of requests)

            bundle = certifi.where()
        except ImportError:
            bundle = None
    try:
        context = ssl.create_default_context(cafile=bundle)
        context.wrap_socket(conn, server_hostname=hostname).close()
    except ssl.SSLCertVerificationError as exc:
        return (f"its TLS certificate is not trusted ({exc.verify_message}); behind a proxy "
                "that inspects TLS, set REQUESTS_CA_BUNDLE to its certificate")
    except (ssl.SSLError, OSError) as exc:
        return f"the TLS (https) handshake failed ({getattr(exc, 'reason', None) or exc})"
    return None


def _short(exc: Exception) -> str:
    """The SDK's message without the configuration dump it appends ("Config: host=...")."""
    return str(exc).split(" Config: ", 1)[0]


def run_phase(run: Any) -> tuple[str, str | None, str | None]:
    """(life-cycle state, result, message) of a ``jobs/runs/get`` answer: from ``status`` (the
    newer field) when present, else from the deprecated ``state``. The state is given in the
    older names (TERMINATED, ...); the result is ``SUCCESS`` for a run that succeeded, else the
    termination code or result state (FAILED, CANCELED, ...), None while the run is going."""
    status = getattr(run, "status", None)
    if status is not None and status.state is not None:
        state = status.state.value
        details = status.termination_details
        code = details.code.value if details is not None and details.code else None
        message = details.message if details is not None else None
        if state != "TERMINATED":
            return state, None, message
        return state, code or "FAILED", message
    old = run.state
    life = old.life_cycle_state.value if old and old.life_cycle_state else "?"
    result = old.result_state.value if old and old.result_state else None
    return life, result, old.state_message if old else None


def _source_digest(text: str) -> str:
    """Digest of a notebook's source, insensitive to trailing whitespace a workspace may add."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
