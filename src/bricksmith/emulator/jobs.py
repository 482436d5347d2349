"""Jobs API 2.2 one-time runs: submit, get, get-output, cancel, list.

A submitted run really executes, in a background thread (see ``executor.py``): PENDING
(waiting for its existing cluster, which it starts when TERMINATED) → RUNNING (held there
``run_delay_s`` seconds first) → TERMINATED with SUCCESS / FAILED / TIMEDOUT / CANCELED, or
INTERNAL_ERROR when its notebook does not exist. Tasks run one after another in dependency
order; a task whose upstream did not succeed ends UPSTREAM_FAILED without running.

As on Databricks: the same ``idempotency_token`` returns the same run and starts nothing;
``get-output`` takes a TASK run id and refuses a parent run's id ("Retrieving the output of
runs with multiple tasks is not supported..." — even for a single task); an unknown run id is
400 ``INVALID_PARAMETER_VALUE`` "Run N does not exist." (``ResourceDoesNotExist`` in the SDK);
cancelling a finished run does nothing. Only ``notebook_task`` tasks from the workspace are
emulated (others, and ``git_source``, are 501).

Compute, as on Databricks: a task needs ``existing_cluster_id`` (an all-purpose cluster: a job
cluster's id is 400 "existing_cluster_id only supports all-purpose cluster IDs",
databricks-sdk-py issue 744; the status is *unverified*), or the workspace must have serverless
jobs (``serverless=True``); otherwise 400 ``INVALID_PARAMETER_VALUE`` "Either new_cluster or
existing_cluster_id must be specified." (azure-databricks-client issue 105). ``new_cluster`` and
``job_cluster_key`` are not emulated (501).

Libraries (see ``libraries.py``): a cluster task's ``libraries`` are installed on the cluster
when the run starts, unless already there; a serverless task with ``libraries`` is 400
(*unverified* wording: "Libraries field is not supported for serverless task, please specify
libraries in environment"). A notebook task with an ``environment_key`` is 400
INVALID_PARAMETER_VALUE "A task environment can not be provided for notebook task <key>.
Please use the %pip magic command to install notebook-scoped Python libraries and Python wheel
packages" (a workspace's answer, dbt-databricks issue 1009, 2025-09-29; the same refusal in
terraform-provider-databricks issue 4388, 2025-01; databricks-sdk ``jobs.Environment``: "jobs'
environment for non-notebook task"; Databricks' bundle examples: ``environment_key`` "is
required" for Python script, Python wheel and dbt tasks, a notebook task simply omits the
cluster). So a serverless notebook task runs in a fresh base environment each run and installs
what it needs with its own ``%pip``. Each task run records what it installed:
``library_installs`` (cluster libraries), ``notebook_installs`` and ``restarts`` (what its
notebook did): see :meth:`Jobs.library_report` (tests and the benchmark; not part of the API).

The same run views are served on the Jobs API 2.0 and 2.1 paths that older clients still call
(the legacy ``databricks-cli`` reads runs on 2.0/2.1), and ``run_page_url`` opens a page of the
emulator (``GET /``, see :meth:`Jobs.run_page`).

This module answers the requests; the runs and their views are in ``job_runs.py``, their
execution in ``job_execution.py``.
"""

from __future__ import annotations

import html
import itertools
import threading
from typing import Any

from bricksmith.emulator.clusters import Clusters
from bricksmith.emulator.executor import NotebookExecutor
from bricksmith.emulator.job_execution import RunExecution
from bricksmith.emulator.job_runs import Run, RunViews, TaskRun
from bricksmith.emulator.libraries import Libraries, check_libraries
from bricksmith.emulator.paths import workspace_path
from bricksmith.emulator.wire import Request, Response, as_int, invalid, unsupported

TASK_KINDS = (
    "spark_python_task",
    "python_wheel_task",
    "spark_jar_task",
    "spark_submit_task",
    "pipeline_task",
    "sql_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
)
MAX_OUTPUT = 5 * 1024 * 1024
MULTI_TASK_OUTPUT = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)


class Jobs(RunExecution, RunViews):
    def __init__(
        self,
        executor: NotebookExecutor,
        clusters: Clusters,
        user: str,
        run_delay_s: float,
        serverless: bool = False,
        libraries: Libraries | None = None,
    ) -> None:
        self.serverless = serverless
        self.libraries = libraries or Libraries(clusters, executor.build)
        self.executor = executor
        self.clusters = clusters
        self.user = user
        self.run_delay_s = run_delay_s
        self.base_url = ""
        self._lock = threading.RLock()
        self._runs: dict[int, Run] = {}
        self._tasks: dict[int, tuple[Run, TaskRun]] = {}
        self._tokens: dict[str, int] = {}
        self._ids = itertools.count(100_000_001)
        self._job_ids = itertools.count(900_000_001)

    def routes(self):
        routes: list[tuple] = [("GET", "/", self.run_page)]
        for version in ("2.2", "2.1", "2.0"):  # 2.0 / 2.1: older clients' paths, still served
            routes += [
                ("POST", f"/api/{version}/jobs/runs/submit", self.submit, "drop_after"),
                ("GET", f"/api/{version}/jobs/runs/get", self.get),
                ("GET", f"/api/{version}/jobs/runs/get-output", self.get_output),
                ("POST", f"/api/{version}/jobs/runs/cancel", self.cancel),
                ("GET", f"/api/{version}/jobs/runs/list", self.list),
            ]
        return routes

    # -- submit ------------------------------------------------------------------------------

    def _validate(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if body.get("git_source"):
            raise unsupported("runs with a git_source")
        environments = _environments(body.get("environments"))
        tasks = body.get("tasks") or []
        if not isinstance(tasks, list) or not tasks:
            raise invalid("A run must have at least one task.")
        keys: set[str] = set()
        for task in tasks:
            key = task.get("task_key")
            if not key:
                raise invalid("Every task needs a task_key.")
            if key in keys:
                raise invalid(f"Task key {key} is not unique.")
            keys.add(key)
            kind = next((k for k in TASK_KINDS if task.get(k)), None)
            if kind:
                raise unsupported(f"{kind} tasks (only notebook_task)")
            notebook = task.get("notebook_task")
            if not notebook or not notebook.get("notebook_path"):
                raise invalid(f"Task {key}: notebook_task.notebook_path is required.")
            workspace_path(str(notebook["notebook_path"]))  # absolute, as the API requires
            if str(notebook.get("source", "WORKSPACE")).upper() != "WORKSPACE":
                raise unsupported("notebook tasks whose source is GIT")
            self._check_compute(task, environments)
        for task in tasks:
            for dep in task.get("depends_on") or []:
                if dep.get("task_key") not in keys:
                    raise invalid(f"Task {task['task_key']} depends on an unknown task.")
        return _in_dependency_order(tasks)

    def _check_compute(self, task: dict[str, Any], environments: dict[str, list[str]]) -> None:
        for kind in ("new_cluster", "job_cluster_key"):
            if task.get(kind):
                raise unsupported(f"tasks with {kind} (only existing_cluster_id or serverless)")
        cluster = task.get("existing_cluster_id")
        if cluster:
            if not self.clusters.exists(cluster):
                raise invalid(f"Cluster {cluster} does not exist")
            if self.clusters.source(cluster) == "JOB":
                raise invalid("existing_cluster_id only supports all-purpose cluster IDs.")
        elif not self.serverless:
            raise invalid("Either new_cluster or existing_cluster_id must be specified.")
        elif task.get("libraries"):
            raise invalid("Libraries field is not supported for serverless task, please "
                          "specify libraries in environment.")
        task["libraries"] = check_libraries(task.get("libraries"))
        key = task.get("environment_key")
        if key and task.get("notebook_task"):  # see the module docstring for the sources
            raise invalid(f"A task environment can not be provided for notebook task "
                          f"{task.get('task_key')}. Please use the %pip magic command to install "
                          "notebook-scoped Python libraries and Python wheel packages")
        if key and key not in environments:
            raise invalid(f"Task {task.get('task_key')} references an unknown environment "
                          f"{key}.")

    def submit(self, req: Request) -> dict[str, Any]:
        body = req.json()
        token = body.get("idempotency_token")
        if token is not None and len(str(token)) > 64:
            raise invalid("idempotency_token must have at most 64 characters.")
        timeout = as_int(body.get("timeout_seconds"), "timeout_seconds", 0)
        with self._lock:
            if token and token in self._tokens:
                return {"run_id": self._tokens[token]}
            tasks = self._validate(body)
            run = Run(
                run_id=next(self._ids),
                job_id=next(self._job_ids),
                name=str(body.get("run_name") or "Untitled"),
                tasks=[TaskRun(next(self._ids), t["task_key"], t) for t in tasks],
                timeout_s=timeout or 0,
                token=token,
            )
            self._runs[run.run_id] = run
            for task in run.tasks:
                self._tasks[task.run_id] = (run, task)
            if token:
                self._tokens[token] = run.run_id
            run.thread = threading.Thread(
                target=self._execute, args=(run,), name=f"emulator-run-{run.run_id}", daemon=True
            )
            run.thread.start()
        return {"run_id": run.run_id}


    def _find(self, req: Request) -> tuple[Run, TaskRun | None]:
        run_id = as_int(req.required("run_id"), "run_id")
        if run_id in self._runs:
            return self._runs[run_id], None
        if run_id in self._tasks:
            return self._tasks[run_id]
        raise invalid(f"Run {run_id} does not exist.")

    def run_page(self, req: Request) -> Response:
        """The page ``run_page_url`` opens (``/?o=0#job/<job>/run/<run>``; the browser keeps
        the fragment, so every run is listed and the one named is highlighted). It shows ids,
        names, notebook paths and states only: no parameters, no output."""
        rows = []
        with self._lock:
            for run in sorted(self._runs.values(), key=lambda r: r.run_id, reverse=True):
                for task in [None, *run.tasks]:
                    run_id = task.run_id if task else run.run_id
                    life_cycle = task.life_cycle if task else run.life_cycle
                    result = (task.result if task else run.result) or ""
                    message = task.message if task else run.message
                    name = f"&nbsp;&nbsp;task {html.escape(task.key)}" if task else html.escape(
                        run.name)
                    path = task.spec["notebook_task"]["notebook_path"] if task else ""
                    rows.append(
                        f'<tr id="job/{run.job_id}/run/{run_id}"><td>{run_id}</td>'
                        f"<td>{name}</td><td>{html.escape(path)}</td><td>{life_cycle}</td>"
                        f"<td>{result}</td><td>{html.escape(message)}</td></tr>"
                    )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Runs: bricksmith "
            "emulator</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;"
            "text-align:left}tr:target{background:#ffe08a}</style></head><body>"
            "<h1>Job runs (bricksmith Databricks emulator)</h1><table><tr><th>run id</th>"
            "<th>name</th><th>notebook</th><th>life cycle</th><th>result</th><th>message</th>"
            f"</tr>{''.join(rows)}</table></body></html>"
        )
        return Response(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def get(self, req: Request) -> dict[str, Any]:
        with self._lock:
            run, task = self._find(req)
            if task is None:
                return self.run_view(run)
            return self.task_run_view(run, task)

    def get_output(self, req: Request) -> dict[str, Any]:
        with self._lock:
            run, task = self._find(req)
            if task is None:
                raise invalid(MULTI_TASK_OUTPUT)
            output: dict[str, Any] = {"metadata": self.task_run_view(run, task)}
            if task.result == "SUCCESS":
                result = task.exit_value
                notebook: dict[str, Any] = {"truncated": False}
                if result is not None:
                    truncated = len(result.encode()) > MAX_OUTPUT
                    notebook = {
                        "result": result.encode()[:MAX_OUTPUT].decode("utf-8", "ignore"),
                        "truncated": truncated,
                    }
                output["notebook_output"] = notebook
            elif task.done and task.result != "UPSTREAM_FAILED":
                output["error"] = task.error or task.message
                if task.error_trace:
                    output["error_trace"] = task.error_trace
            return output

    def cancel(self, req: Request) -> dict[str, Any]:
        with self._lock:
            run, _ = self._find(req)
        self.cancel_run(run)
        return {}

    def list(self, req: Request) -> dict[str, Any]:
        active, completed = req.flag("active_only"), req.flag("completed_only")
        if active and completed:
            raise invalid("active_only and completed_only cannot both be true.")
        limit = as_int(req.arg("limit"), "limit", 20) or 25
        if not 0 < limit <= 25:
            raise invalid("limit must be between 1 and 25.")
        start = as_int(req.arg("page_token") or req.arg("offset"), "page_token", 0) or 0
        job_id = as_int(req.arg("job_id"), "job_id")
        after = as_int(req.arg("start_time_from"), "start_time_from")
        before = as_int(req.arg("start_time_to"), "start_time_to")
        run_type = req.arg("run_type")
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: (r.submitted, r.run_id), reverse=True)
            chosen = [
                r
                for r in runs
                if (not active or r.life_cycle in ("PENDING", "RUNNING"))
                and (not completed or r.life_cycle not in ("PENDING", "RUNNING"))
                and (job_id is None or r.job_id == job_id)
                and (after is None or r.submitted >= after)
                and (before is None or r.submitted <= before)
                and (run_type in (None, "", "SUBMIT_RUN"))
            ]
            page = chosen[start : start + limit]
            expand = req.flag("expand_tasks")
            answer: dict[str, Any] = {
                "runs": [self.run_view(r, with_tasks=expand) for r in page],
                "has_more": start + limit < len(chosen),
            }
            if answer["has_more"]:
                answer["next_page_token"] = str(start + limit)
            if start:
                answer["prev_page_token"] = str(max(0, start - limit))
            if not page:
                del answer["runs"]
            return answer


def _environments(value: Any) -> dict[str, list[str]]:
    """A run's job environments, ``{environment_key: dependencies}``; 400 when malformed."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise invalid("environments must be a list.")
    found: dict[str, list[str]] = {}
    for entry in value:
        key = entry.get("environment_key") if isinstance(entry, dict) else None
        if not key:
            raise invalid("Every environment needs an environment_key.")
        if key in found:
            raise invalid(f"Environment key {key} is not unique.")
        spec = entry.get("spec")
        if not isinstance(spec, dict):
            raise invalid(f"Environment {key} needs a spec.")
        dependencies = spec.get("dependencies") or []
        if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in
                                                         dependencies):
            raise invalid(f"Environment {key}: dependencies must be a list of strings.")
        found[key] = list(dependencies)
    return found


def _in_dependency_order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    pending = list(tasks)
    while pending:
        ready = [
            t for t in pending if all(d["task_key"] in done for d in t.get("depends_on") or [])
        ]
        if not ready:
            raise invalid("The tasks' dependencies form a cycle.")
        for task in ready:
            ordered.append(task)
            done.add(task["task_key"])
            pending.remove(task)
    return ordered
