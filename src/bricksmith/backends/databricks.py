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
from urllib.parse import urlparse

from bricksmith.backends import databricks_http
from bricksmith.backends.base import Removal, RunOutcome
from bricksmith.backends.databricks_data import UPLOAD_WORKERS, DatabricksData
from bricksmith.errors import BackendError, GitError, RunFailedError

RETRY_S = 120  # the SDK retries transient errors (429, 503, dropped connections) this long
PREFLIGHT_RETRY_S = 10  # an unreachable host fails in seconds, not in minutes
CANCEL_WAIT_S = 10 * 60  # a cancelled job run stops within this long
TERMINAL_STATES = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
GIT_PROVIDERS = {
    "github.com": "gitHub",
    "gitlab.com": "gitLab",
    "bitbucket.org": "bitbucketCloud",
    "dev.azure.com": "azureDevOpsServices",
}


def git_provider(url: str) -> str:
    host = (urlparse(url).hostname or "").lower()
    if not host and "@" in url:  # git@github.com:me/x.git
        host = url.split("@", 1)[1].split(":", 1)[0].lower()
    return next((p for h, p in GIT_PROVIDERS.items() if host.endswith(h)), "gitHub")


class DatabricksBackend(DatabricksData):
    name = "databricks"

    def __init__(
        self,
        *,
        host: str | None,
        profile: str | None,
        cluster_id: str | None,
        client=None,
        poll_interval_s: float = 2.0,
        retry_policy: databricks_http.RetryPolicy | None = None,
    ) -> None:
        self.host, self.profile, self.cluster_id = host, profile, cluster_id
        self.retry_policy = retry_policy  # of server errors (None: databricks_http's)
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

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Map SDK and network errors raised while doing ``action`` into bricksmith errors."""
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
                f"{who} rejected the credentials while trying to {action}: {exc}",
                hint=f"{login}, or run `databricks auth login`",
            ) from None
        except sdk.PermissionDenied as exc:
            raise BackendError(
                f"{who}: not allowed to {action}: {exc}",
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

    def preflight(self) -> None:
        """Fail early, before anything changes, when the workspace cannot be reached: a quick
        client (short retry budget) reads the current user."""
        quick = self._client or self._make_client(PREFLIGHT_RETRY_S)
        with self.errors("read the current user"):
            self._user = quick.current_user.me().user_name

    @property
    def user(self) -> str:
        if self._user is None:
            with self.errors("read the current user"):
                self._user = self.client.current_user.me().user_name
        return self._user

    # -- workspace repos -------------------------------------------------------------------------

    def repo_path(self, name: str) -> str:
        return f"/Workspace/Repos/{self.user}/{name}"

    def _repo_api_path(self, name: str) -> str:
        return f"/Repos/{self.user}/{name}"

    def _find_repo(self, api_path: str):
        for repo in self.client.repos.list(path_prefix=api_path):
            if repo.path in (api_path, "/Workspace" + api_path):
                return repo
        return None

    def _ensure_git_credential(self, url: str, token_env: str) -> None:
        import os

        token = os.environ.get(token_env)
        if not token:
            raise GitError(
                f"environment variable {token_env} (repo.token_env) is not set",
                hint=f"export {token_env}=<token> before running bricksmith",
            )
        provider = git_provider(url)
        with self.errors("set up the git credential"):
            existing = list(self.client.git_credentials.list())
            if existing:
                self.client.git_credentials.update(
                    existing[0].credential_id, git_provider=provider, personal_access_token=token
                )
            else:
                self.client.git_credentials.create(
                    git_provider=provider, personal_access_token=token
                )

    def sync_repo(
        self, *, name: str, location: str, branch: str, commit: str, token_env: str | None
    ) -> dict[str, Any]:
        from databricks.sdk import errors as sdk

        if token_env:
            self._ensure_git_credential(location, token_env)
        api_path = self._repo_api_path(name)
        with self.errors(f"create or update the workspace repo {api_path}"):
            repo = self._find_repo(api_path)
            if repo is None:
                try:
                    repo = self.client.repos.create(
                        url=location, provider=git_provider(location), path=api_path
                    )
                except sdk.ResourceAlreadyExists:  # a retried create, or a race: adopt it
                    repo = self._find_repo(api_path)
            if repo is None:
                raise BackendError(f"workspace repo {api_path} could not be created or found")
            if repo.url and repo.url != location:
                raise BackendError(
                    f"workspace repo {api_path} is a clone of {repo.url}, not {location}",
                    hint="delete or rename that repo in the workspace, or change repo.remote",
                )
            self.client.repos.update(repo.id, branch=branch)
            repo = self.client.repos.get(repo.id)
        if repo.head_commit_id != commit:
            raise GitError(
                f"workspace repo {api_path} is at {str(repo.head_commit_id)[:10]} after pulling "
                f"{branch}, not at the pushed commit {commit[:10]}",
                hint="someone pushed to the branch since; apply again to commit and push on top",
            )
        return {
            "path": self.repo_path(name),
            "repo_id": repo.id,
            "branch": branch,
            "commit": commit,
        }

    # what the workspace holds is known only by asking it: no probe stands for these checks,
    # so plans of Databricks targets are never memoised
    def repo_probes(self, outputs: dict[str, Any]) -> None:
        return None

    def notebook_probes(self, outputs: dict[str, Any]) -> None:
        return None

    def repo_drift(self, outputs: dict[str, Any]) -> list[str]:
        from databricks.sdk import errors as sdk

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
            reasons.append(f"workspace repo is on branch {repo.branch}, not {outputs['branch']}")
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
        from databricks.sdk import errors as sdk
        from databricks.sdk.service.workspace import ExportFormat

        with self.errors(f"read the notebook {outputs['path']}"):
            try:
                exported = self.client.workspace.export(outputs["path"], format=ExportFormat.SOURCE)
            except sdk.NotFound:
                return [f"notebook {outputs['path']} is missing"]
        text = base64.b64decode(exported.content or "").decode(errors="replace")
        if _source_digest(text) != outputs["sha256"]:
            return [f"notebook {outputs['path']} was edited in the workspace"]
        return []

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
        from databricks.sdk.service.compute import State

        if not self.cluster_id:
            return
        # Runs start in parallel: one of them starts the cluster, the others wait for it.
        with self._cluster_lock, self.errors(f"start the cluster {self.cluster_id}"):
            state = self.client.clusters.get(self.cluster_id).state
            if state != State.RUNNING:
                shown = state.value if state else "unknown"
                log(f"cluster {self.cluster_id} is {shown}; starting it")
            self.client.clusters.ensure_cluster_is_running(self.cluster_id)

    def _submit(self, notebook: str, run_name: str, widgets: dict[str, str], token: str,
                timeout_s: float) -> int:
        from databricks.sdk.service.jobs import NotebookTask, Source, SubmitTask

        task = SubmitTask(
            task_key="notebook",
            notebook_task=NotebookTask(
                notebook_path=notebook, base_parameters=widgets, source=Source.WORKSPACE
            ),
            existing_cluster_id=self.cluster_id,
        )
        with self.errors(f"submit the job run {run_name}"):
            waiter = self.client.jobs.submit(
                run_name=run_name,
                tasks=[task],
                idempotency_token=token,
                timeout_seconds=int(timeout_s),
            )
        return waiter.run_id

    def _wait(self, run_id: int, timeout_s: float, log: Callable[[str], None]):
        deadline = time.monotonic() + timeout_s
        last = None
        delay = min(1.0, self.poll_interval_s)
        while True:
            with self.errors(f"read job run {run_id}"):
                run = self.client.jobs.get_run(run_id)
            life = run.state.life_cycle_state if run.state else None
            state = life.value if life else "?"
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
        life = run.state.life_cycle_state if run.state else None
        if life is not None and life.value in TERMINAL_STATES:
            return
        log(f"job run {run_id} of the earlier params is {life.value if life else 'in flight'}: "
            "cancelling it before submitting the new one")
        with self.errors(f"cancel job run {run_id}"):
            self.client.jobs.cancel_run(run_id)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while True:
            with self.errors(f"read job run {run_id}"):
                run = self.client.jobs.get_run(run_id)
            life = run.state.life_cycle_state if run.state else None
            if life is not None and life.value in TERMINAL_STATES:
                log(f"job run {run_id} cancelled ({life.value})")
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
    ) -> RunOutcome:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{run_name}.log"
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
        if run_id:
            ended = pending.get("_result")
            log(f"adopting the finished job run {run_id} ({ended})" if ended
                else f"re-attaching to job run {run_id}")
        else:
            self._ensure_cluster(log)
            run_id = self._submit(notebook, f"bricksmith {run_name}", widgets, token, timeout_s)
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
        result = run.state.result_state.value if run.state and run.state.result_state else None
        ok = result == "SUCCESS"
        error = None if ok else (output.error or (run.state.state_message if run.state else None)
                                 or f"the job run ended {result or run.state.life_cycle_state}")
        trace = output.error_trace or ""
        exit_value = output.notebook_output.result if output.notebook_output else None
        from bricksmith.atomic import write_text_atomically

        write_text_atomically(
            log_path,
            f"job run {run_id} ({url})\nresult: {result}\n"
            + (f"exit value: {exit_value}\n" if exit_value else "")
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
            details={"run_id": run_id, "run_page_url": url},
        )


def _source_digest(text: str) -> str:
    """Digest of a notebook's source, insensitive to trailing whitespace a workspace may add."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
