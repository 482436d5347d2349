"""The emulator's execution of a job run, in a background thread: tasks in dependency order,
waiting for (and starting) the existing cluster, installing the task's cluster libraries, the
notebook run through the executor with its timeout, cancellation (the process group killed),
and stopping every active run."""

from __future__ import annotations

import time
from typing import Any

from bricksmith.emulator.executor import Outcome, kill_group
from bricksmith.emulator.job_runs import Run, TaskRun, now_ms
from bricksmith.errors import EnvironmentBuildError


class RunExecution:
    """Mixed into :class:`bricksmith.emulator.jobs.Jobs` (which gives ``executor``,
    ``clusters``, ``libraries``, ``run_delay_s``, ``_lock`` and ``_runs``)."""

    def _execute(self, run: Run) -> None:
        for task in run.tasks:
            upstream = {d["task_key"] for d in task.spec.get("depends_on") or []}
            failed = [t for t in run.tasks if t.key in upstream and t.result != "SUCCESS"]
            with self._lock:
                if run.cancelled.is_set():
                    task.finish(Outcome("TERMINATED", "CANCELED", "Run cancelled."))
                    continue
                if failed:
                    message = f"Upstream task {failed[0].key} did not succeed."
                    task.finish(Outcome("TERMINATED", "UPSTREAM_FAILED", message))
                    continue
            try:
                outcome = self._run_task(run, task)
            except Exception as exc:  # an emulator bug must not leave the run hanging
                outcome = Outcome("INTERNAL_ERROR", "FAILED", f"emulator error: {exc!r}")
            with self._lock:
                task.finish(outcome)
                task.pid = None
        with self._lock:
            run.end_time = now_ms()

    def _run_task(self, run: Run, task: TaskRun) -> Outcome:
        cluster = task.spec.get("existing_cluster_id")
        if cluster:
            self.clusters.ensure_starting(cluster)
            while (state := self.clusters.state(cluster)) != "RUNNING":
                if state in ("TERMINATED", "TERMINATING", "ERROR"):
                    return Outcome("INTERNAL_ERROR", "FAILED", f"Cluster {cluster} is {state}.")
                with self._lock:
                    task.message = f"Waiting for cluster {cluster} to start."
                if run.cancelled.wait(0.05):
                    return Outcome("TERMINATED", "CANCELED", "Run cancelled.")
        with self._lock:
            task.life_cycle, task.message, task.start_time = "RUNNING", "In run", now_ms()
        try:
            environment = self._install(task)
        except EnvironmentBuildError as exc:
            message = f"Library installation failed: {exc.message}"
            return Outcome("TERMINATED", "FAILED", message, None, message, exc.log_tail or "")
        held = run.cancelled.wait(self.run_delay_s) if self.run_delay_s > 0 else False
        if held or run.cancelled.is_set():
            return Outcome("TERMINATED", "CANCELED", "Run cancelled.")
        timeouts = [t for t in (run.timeout_s, task.spec.get("timeout_seconds") or 0) if t]
        notebook = task.spec["notebook_task"]

        def started(pid: int) -> None:
            with self._lock:
                task.pid = pid
            if run.cancelled.is_set():
                kill_group(pid)

        return self.executor.run(
            task_run_id=task.run_id,
            notebook_path=notebook["notebook_path"],
            parameters=notebook.get("base_parameters") or {},
            timeout_s=min(timeouts) if timeouts else None,
            cancelled=run.cancelled,
            on_start=started,
            environment=environment,
        )

    def _install(self, task: TaskRun):
        """The task's compute environment: its cluster's libraries (the task's installed
        first); None: nothing installed (a serverless notebook task: a fresh environment)."""
        log_path = self.executor.layout.jobs / f"{task.run_id}.log"
        cluster = task.spec.get("existing_cluster_id")
        if cluster:
            done, environment = self.libraries.install_for_run(
                cluster, task.spec.get("libraries") or [], log_path)
        else:  # serverless notebook task: a fresh base environment, its %pip installs per run
            done, environment = 0, None
        with self._lock:
            task.library_installs = done
        return environment

    def library_report(self) -> list[dict[str, Any]]:
        """Per task run, oldest first: ``{"run_id", "task_run_id", "run_name",
        "library_installs", "notebook_installs", "restarts", "result"}``."""
        with self._lock:
            return [{"run_id": run.run_id, "task_run_id": task.run_id, "run_name": run.name,
                     "library_installs": task.library_installs,
                     "notebook_installs": task.notebook_installs, "restarts": task.restarts,
                     "result": task.result}
                    for run in self._runs.values() for task in run.tasks]

    def cancel_run(self, run: Run) -> None:
        with self._lock:
            run.cancelled.set()
            pids = [t.pid for t in run.tasks if t.pid]
        for pid in pids:
            kill_group(pid)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel every active run and wait for their threads (once nothing is served)."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            if run.life_cycle in ("PENDING", "RUNNING"):
                self.cancel_run(run)
        deadline = time.monotonic() + timeout_s
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))
