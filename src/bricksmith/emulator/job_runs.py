"""The emulator's job runs: a submitted run and its task runs (life cycle, result state,
message, times), and the views the Jobs API answers for them (``runs/get``, a task run's own
``runs/get``, ``runs/list`` entries: ``state``, ``status``, durations, ``run_page_url``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bricksmith.emulator.executor import Outcome

TERMINATION = {  # result state -> (termination code, type)
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "TIMEDOUT": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "CANCELED": ("USER_CANCELED", "SUCCESS"),
    "UPSTREAM_FAILED": ("SKIPPED", "CLIENT_ERROR"),
}



def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TaskRun:
    run_id: int
    key: str
    spec: dict[str, Any]
    life_cycle: str = "PENDING"
    result: str | None = None
    message: str = ""
    start_time: int = 0
    end_time: int = 0
    exit_value: str | None = None
    error: str | None = None
    error_trace: str | None = None
    pid: int | None = None
    library_installs: int = 0  # cluster libraries / serverless environment built for it
    notebook_installs: int = 0  # %pip installs its notebook did
    restarts: int = 0  # Python restarts its notebook did

    def finish(self, outcome: Outcome) -> None:
        self.life_cycle, self.result, self.message = (
            outcome.life_cycle,
            outcome.result,
            outcome.message,
        )
        self.exit_value, self.error, self.error_trace = (
            outcome.exit_value,
            outcome.error,
            outcome.error_trace,
        )
        self.notebook_installs, self.restarts = outcome.notebook_installs, outcome.restarts
        self.end_time = now_ms()
        self.start_time = self.start_time or self.end_time

    @property
    def done(self) -> bool:
        return self.life_cycle in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED")


@dataclass
class Run:
    run_id: int
    job_id: int
    name: str
    tasks: list[TaskRun]
    timeout_s: int
    token: str | None
    submitted: int = field(default_factory=now_ms)
    end_time: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def life_cycle(self) -> str:
        if all(t.done for t in self.tasks):
            if any(t.life_cycle == "INTERNAL_ERROR" for t in self.tasks):
                return "INTERNAL_ERROR"
            return "TERMINATED"
        if all(t.life_cycle == "PENDING" for t in self.tasks):
            return "PENDING"
        return "RUNNING"

    @property
    def result(self) -> str | None:
        if not all(t.done for t in self.tasks):
            return None
        results = [t.result for t in self.tasks]
        for state in ("CANCELED", "TIMEDOUT", "FAILED"):
            if state in results:
                return state
        return "SUCCESS" if all(r == "SUCCESS" for r in results) else "FAILED"

    @property
    def message(self) -> str:
        """The message of the first task that did not succeed, else of the active task."""
        for task in self.tasks:
            if task.result in ("FAILED", "TIMEDOUT", "CANCELED"):
                return task.message
        active = next((t for t in self.tasks if not t.done), None)
        return active.message if active else ""

    @property
    def start_time(self) -> int:
        starts = [t.start_time for t in self.tasks if t.start_time]
        return min(starts) if starts else 0


class RunViews:
    """Mixed into :class:`bricksmith.emulator.jobs.Jobs` (which gives ``base_url``, ``user``,
    ``_lock`` and ``_runs``)."""

    def _url(self, run: Run, run_id: int) -> str:
        return f"{self.base_url}/?o=0#job/{run.job_id}/run/{run_id}"

    @staticmethod
    def _state(life_cycle: str, result: str | None, message: str) -> dict[str, Any]:
        state: dict[str, Any] = {
            "life_cycle_state": life_cycle,
            "state_message": message,
            "user_cancelled_or_timedout": result in ("CANCELED", "TIMEDOUT"),
        }
        if result:
            state["result_state"] = result
        return state

    @staticmethod
    def _status(life_cycle: str, result: str | None, message: str) -> dict[str, Any]:
        if life_cycle == "PENDING":
            return {"state": "PENDING"}
        if life_cycle == "RUNNING":
            return {"state": "RUNNING"}
        code, kind = TERMINATION.get(result or "", ("INTERNAL_ERROR", "INTERNAL_ERROR"))
        if life_cycle == "INTERNAL_ERROR":
            code, kind = "RESOURCE_NOT_FOUND", "CLIENT_ERROR"
        details = {"code": code, "type": kind, "message": message}
        return {"state": "TERMINATED", "termination_details": details}

    @staticmethod
    def _durations(start: int, end: int) -> dict[str, int]:
        elapsed = max(0, (end or now_ms()) - start) if start else 0
        return {
            "setup_duration": 0,
            "execution_duration": elapsed,
            "cleanup_duration": 0,
            "run_duration": elapsed,
        }

    def task_view(self, run: Run, task: TaskRun) -> dict[str, Any]:
        view: dict[str, Any] = {
            "run_id": task.run_id,
            "task_key": task.key,
            "notebook_task": task.spec["notebook_task"],
            "state": self._state(task.life_cycle, task.result, task.message),
            "status": self._status(task.life_cycle, task.result, task.message),
            "start_time": task.start_time,
            "end_time": task.end_time,
            "attempt_number": 0,
            "run_page_url": self._url(run, task.run_id),
            **self._durations(task.start_time, task.end_time),
        }
        if task.spec.get("depends_on"):
            view["depends_on"] = task.spec["depends_on"]
        cluster = task.spec.get("existing_cluster_id")
        if cluster:
            view["existing_cluster_id"] = cluster
            view["cluster_instance"] = {"cluster_id": cluster}
        return view

    def run_view(self, run: Run, with_tasks: bool = True) -> dict[str, Any]:
        view: dict[str, Any] = {
            "job_id": run.job_id,
            "run_id": run.run_id,
            "number_in_job": run.run_id,
            "run_name": run.name,
            "run_type": "SUBMIT_RUN",
            "creator_user_name": self.user,
            "state": self._state(run.life_cycle, run.result, run.message),
            "status": self._status(run.life_cycle, run.result, run.message),
            "start_time": run.start_time or run.submitted,
            "end_time": run.end_time,
            "attempt_number": 0,
            "run_page_url": self._url(run, run.run_id),
            **self._durations(run.start_time, run.end_time),
        }
        if run.timeout_s:
            view["timeout_seconds"] = run.timeout_s
        if with_tasks:
            view["tasks"] = [self.task_view(run, t) for t in run.tasks]
        return view

    def snapshot(self) -> list[dict[str, Any]]:
        """Every submitted run as runs/get answers it, oldest first (tests)."""
        with self._lock:
            return [self.run_view(run) for run in self._runs.values()]

    def task_run_view(self, run: Run, task: TaskRun) -> dict[str, Any]:
        """A task run as runs/get answers for its own id: a ``Run`` with that one task."""
        with self._lock:
            view = self.run_view(run, with_tasks=False)
            task_view = self.task_view(run, task)
            view.update(
                run_id=task.run_id,
                run_name=task.key,
                state=task_view["state"],
                status=task_view["status"],
                start_time=task.start_time,
                end_time=task.end_time,
                run_page_url=task_view["run_page_url"],
                tasks=[task_view],
            )
            return view
