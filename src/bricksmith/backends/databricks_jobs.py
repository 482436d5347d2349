"""The databricks backend's job runs and clusters (Jobs and Clusters APIs): starting the
cluster, submitting a one-time notebook run (jobs/runs/submit, idempotency token) on a cluster or
serverless, waiting for it, cancelling a superseded one, and reading its output into a
``RunOutcome``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bricksmith.backends.base import RunOutcome
from bricksmith.errors import BackendError, RunFailedError

CANCEL_WAIT_S = 10 * 60  # a cancelled job run stops within this long
TERMINAL_STATES = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
CLUSTER_SETTLING = {"PENDING", "RESIZING", "RESTARTING"}  # become RUNNING by themselves
CLUSTER_WAIT_S = 20 * 60  # databricks-sdk's ensure_cluster_is_running waits this long
OUTPUT_LIMIT_MB = 5  # runs/get-output: notebook_output.result is cut at 5 MB (truncated)


class DatabricksJobs:
    """Mixed into ``DatabricksBackend`` (which gives ``client``, ``errors``, ``cluster_id``,
    ``serverless``, ``poll_interval_s`` and ``_cluster_lock``)."""

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
