"""Jobs one-time runs that really execute their notebook (here with the test interpreter)."""

import base64
import sys
import time
from pathlib import Path

import pytest
from databricks.sdk import errors
from databricks.sdk.service.jobs import (
    NotebookTask,
    RunLifeCycleState,
    RunResultState,
    SubmitTask,
    TaskDependency,
)
from databricks.sdk.service.workspace import ImportFormat, Language

from bricksmith.emulator import DEFAULT_CLUSTER_ID, FaultPolicy
from tests.emulator.conftest import USER, b64, notebook

NOTEBOOK = f"/Users/{USER}/jobs/run"
PYTHON = Path(sys.executable)
SOURCE = notebook(
    'dbutils.widgets.text("x", "1")\ndbutils.widgets.text("data", "/dbfs/FileStore/in.txt")',
    "import pathlib\n"
    'x = int(dbutils.widgets.get("x"))\n'
    'text = pathlib.Path(dbutils.widgets.get("data")).read_text()\n'
    "if x < 0:\n"
    '    raise ValueError(f"negative: {x}")\n'
    'dbutils.notebook.exit(f"{x * 2}:{text}")',
)


def deploy(w, source: str = SOURCE, path: str = NOTEBOOK) -> None:
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.import_(
        path,
        content=b64(source),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )
    w.dbfs.put("/FileStore/in.txt", contents=base64.b64encode(b"hello").decode(), overwrite=True)


def task(key="main", path=NOTEBOOK, cluster=None, depends_on=(), **params) -> SubmitTask:
    return SubmitTask(
        task_key=key,
        notebook_task=NotebookTask(notebook_path=path, base_parameters=params),
        existing_cluster_id=cluster,
        depends_on=[TaskDependency(task_key=d) for d in depends_on] or None,
    )


def wait_for(w, run_id, state: RunLifeCycleState, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = w.jobs.get_run(run_id)
        if run.state.life_cycle_state == state:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {state}")


def test_a_run_executes_its_notebook_on_the_cluster(w, emulator):
    deploy(w)
    waiter = w.jobs.submit(
        run_name="double", tasks=[task(cluster=DEFAULT_CLUSTER_ID, x="21")], timeout_seconds=300
    )
    run = waiter.result()
    assert run.run_id == waiter.run_id
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.SUCCESS
    assert run.status.state.value == "TERMINATED" and run.run_page_url.startswith(emulator.url)
    assert emulator.cluster_state() == "RUNNING"  # the run started its cluster
    [task_run] = run.tasks
    assert task_run.task_key == "main" and task_run.run_id != run.run_id
    output = w.jobs.get_run_output(task_run.run_id)
    assert output.notebook_output.result == "42:hello"  # the default /dbfs/... widget, mapped
    assert output.error is None and output.metadata.run_id == task_run.run_id
    assert "exited at cell 2/2" in emulator.run_log(task_run.run_id).read_text()
    assert w.jobs.get_run(task_run.run_id).state.result_state == RunResultState.SUCCESS


def test_parameters_are_translated_too(w, emulator):
    deploy(w)
    w.dbfs.put("/FileStore/other.txt", contents=base64.b64encode(b"other").decode())
    run = w.jobs.submit(run_name="p", tasks=[task(data="/dbfs/FileStore/other.txt")]).result()
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert output.notebook_output.result == "2:other"


def test_the_same_idempotency_token_returns_the_same_run(w, emulator):
    deploy(w)
    first = w.jobs.submit(run_name="once", tasks=[task()], idempotency_token="tok-1")
    again = w.jobs.submit(run_name="once", tasks=[task()], idempotency_token="tok-1")
    assert first.run_id == again.run_id
    assert len(emulator.runs) == 1 and emulator.calls["POST /api/2.2/jobs/runs/submit"] == 2
    assert first.result().state.result_state == RunResultState.SUCCESS


def test_a_lost_submit_answer_is_retried_into_the_same_run(w, emulator):
    deploy(w)
    emulator.set_faults(FaultPolicy(drop_after_rate=1.0, max_faults=1))
    waiter = w.jobs.submit(run_name="lost", tasks=[task()], idempotency_token="tok-lost")
    assert emulator.faults_injected == 1
    assert emulator.calls["POST /api/2.2/jobs/runs/submit"] == 2  # processed twice...
    assert [r["run_id"] for r in emulator.runs] == [waiter.run_id]  # ...one run


def test_a_failing_notebook_fails_the_run_with_its_error(w, emulator):
    deploy(w)
    run = w.jobs.submit(run_name="bad", tasks=[task(x="-1")]).result()  # returns, not raises
    assert run.state.result_state == RunResultState.FAILED
    assert "ValueError: negative: -1" in run.state.state_message
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert "ValueError: negative: -1" in output.error
    assert 'raise ValueError(f"negative: {x}")' in output.error_trace
    assert output.notebook_output is None
    with pytest.raises(errors.InvalidParameterValue, match="multiple tasks"):
        w.jobs.get_run_output(run.run_id)


def test_a_missing_notebook_is_an_internal_error(w, emulator):
    from databricks.sdk.errors import OperationFailed

    waiter = w.jobs.submit(run_name="none", tasks=[task(path=f"/Users/{USER}/nothing")])
    with pytest.raises(OperationFailed, match="Notebook not found"):
        waiter.result()
    run = w.jobs.get_run(waiter.run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR
    assert run.state.result_state == RunResultState.FAILED


def test_dependent_tasks_run_in_order_and_skip_after_a_failure(w, emulator):
    deploy(w)
    tasks = [
        task("late", depends_on=["bad"]),
        task("bad", x="-1"),
        task("good", x="2"),
    ]
    run = w.jobs.submit(run_name="multi", tasks=tasks).result()
    states = {t.task_key: t.state.result_state for t in run.tasks}
    assert states == {
        "bad": RunResultState.FAILED,
        "late": RunResultState.UPSTREAM_FAILED,
        "good": RunResultState.SUCCESS,
    }
    assert run.state.result_state == RunResultState.FAILED
    good = next(t for t in run.tasks if t.task_key == "good")
    assert w.jobs.get_run_output(good.run_id).notebook_output.result == "4:hello"


@pytest.mark.parametrize(
    "emulator_options", [{"run_delay_s": 60.0, "python": PYTHON, "serverless": True}]
)
def test_cancel_stops_a_running_run(w, emulator):
    deploy(w)
    waiter = w.jobs.submit(run_name="held", tasks=[task()])
    wait_for(w, waiter.run_id, RunLifeCycleState.RUNNING)
    started = time.monotonic()
    run = w.jobs.cancel_run(waiter.run_id).result()
    assert time.monotonic() - started < 10
    assert run.state.result_state == RunResultState.CANCELED
    assert run.state.user_cancelled_or_timedout
    w.jobs.cancel_run(waiter.run_id)  # cancelling a finished run does nothing


def test_a_notebook_that_outlives_its_timeout_is_timed_out(w, emulator):
    deploy(w, notebook("import time\ntime.sleep(60)"))
    started = time.monotonic()
    run = w.jobs.submit(run_name="slow", tasks=[task()], timeout_seconds=1).result()
    assert run.state.result_state == RunResultState.TIMEDOUT
    assert time.monotonic() - started < 15


def test_a_missing_requirements_file_fails_in_the_pip_cell(w, emulator):
    deploy(w, notebook("# MAGIC %pip install -r /Workspace/Repos/nobody/requirements.txt", "x = 1"))
    run = w.jobs.submit(run_name="pip", tasks=[task()]).result()
    assert run.state.result_state == RunResultState.FAILED
    assert "cell 1" in run.state.state_message and "requirements.txt" in run.state.state_message


def test_list_runs_and_unknown_runs(w, emulator):
    deploy(w)
    ids = [w.jobs.submit(run_name=f"r{i}", tasks=[task()]).run_id for i in range(3)]
    for run_id in ids:
        w.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    assert [r.run_id for r in w.jobs.list_runs()] == ids[::-1]  # newest first
    assert [r.run_id for r in w.jobs.list_runs(limit=2)] == ids[::-1]  # pages followed
    assert list(w.jobs.list_runs(active_only=True)) == []
    with pytest.raises(errors.ResourceDoesNotExist):
        w.jobs.get_run(123)
    with pytest.raises(errors.ResourceDoesNotExist):
        w.jobs.get_run_output(123)
    with pytest.raises(errors.BadRequest):
        w.jobs.submit(run_name="x", tasks=[task(cluster="no-such-cluster")])


def test_cancel_kills_a_notebook_that_is_running(w, emulator):
    deploy(w, notebook("import time\nprint('sleeping', flush=True)\ntime.sleep(120)"))
    waiter = w.jobs.submit(run_name="sleeper", tasks=[task()])
    task_run_id = wait_for(w, waiter.run_id, RunLifeCycleState.RUNNING).tasks[0].run_id
    deadline, log = time.monotonic() + 20, emulator.run_log(task_run_id)
    while not (log.is_file() and "sleeping" in log.read_text()):
        assert time.monotonic() < deadline, "the notebook never started"
        time.sleep(0.05)
    started = time.monotonic()
    run = w.jobs.cancel_run(task_run_id).result()  # a task run's id cancels its run
    assert run.state.result_state == RunResultState.CANCELED
    assert time.monotonic() - started < 10
