"""The guide's whole workflow against the emulator, through the real databricks-sdk: the
built-in iris project pushed to a bare repo, cloned as a workspace repo, its data on DBFS, the
rendered notebook imported and run as a job on the cluster in an environment built from the
repo's requirements.txt (cached for the session)."""

from __future__ import annotations

import io
import json

import pytest
from databricks.sdk.service.compute import Library
from databricks.sdk.service.jobs import NotebookTask, RunResultState, Source, SubmitTask
from databricks.sdk.service.workspace import ImportFormat, Language

from bricksmith.backends import git as gitops
from bricksmith.emulator import DEFAULT_CLUSTER_ID
from bricksmith.notebook import render_notebook
from bricksmith.starters import builtin_starter_path, create_project
from tests.emulator.conftest import ME, USER, b64


@pytest.fixture
def emulator_options() -> dict:
    return {}  # build the run environment from the repo's requirements, as a cluster would


def test_the_iris_project_runs_as_a_job(w, emulator, tmp_path):
    project = tmp_path / "iris"
    create_project(
        builtin_starter_path("databricks-iris"),
        project,
        project_name="Iris",
        log_path=tmp_path / "scaffold.log",
    )
    commit, _ = gitops.commit_all(project, branch="main", message="Iris", identity=ME)
    remote = str(tmp_path / "iris.git")
    gitops.ensure_bare_remote(remote, "main")
    gitops.push(project, location=remote, branch="main", token_env=None)

    w.workspace.mkdirs(f"/Repos/{USER}")
    repo = w.repos.create(url=remote, provider="gitHub", path=f"/Repos/{USER}/iris")
    assert repo.head_commit_id == commit

    data = project / "data"
    for file in sorted(p for p in data.rglob("*") if p.is_file()):
        target = f"dbfs:/FileStore/iris/data/{file.relative_to(data).as_posix()}"
        w.dbfs.upload(target, io.BytesIO(file.read_bytes()), overwrite=True)

    notebook_path = f"/Users/{USER}/.bricksmith/iris/run"
    source = render_notebook(
        title="Iris",
        repo_path=f"/Workspace/Repos/{USER}/iris",
        data_root="/dbfs/FileStore/iris/data",
    )
    w.workspace.mkdirs(notebook_path.rsplit("/", 1)[0])
    w.workspace.import_(
        notebook_path, content=b64(source), format=ImportFormat.SOURCE, language=Language.PYTHON
    )

    task = SubmitTask(
        task_key="notebook",
        notebook_task=NotebookTask(
            notebook_path=notebook_path,
            base_parameters={"bricksmith_params": json.dumps({"train_fraction": 0.7})},
            source=Source.WORKSPACE,
        ),
        existing_cluster_id=DEFAULT_CLUSTER_ID,
        # as bricksmith submits it: the project's requirements installed on the cluster
        libraries=[Library(requirements=f"/Workspace/Repos/{USER}/iris/requirements.txt")],
    )
    run = w.jobs.submit(
        run_name="iris split-70", tasks=[task], idempotency_token="iris-1", timeout_seconds=1800
    ).result()
    task_run_id = run.tasks[0].run_id
    log = emulator.run_log(task_run_id).read_text()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message + log[-3000:]

    report = json.loads(w.jobs.get_run_output(task_run_id).notebook_output.result)
    metrics = report["metrics"]
    assert report["effective_params"]["train_fraction"] == 0.7
    assert metrics["n_train"] == 105  # 0.7 of 150 rows: the run's parameter reached Kedro
    assert 0.9 <= metrics["accuracy"] <= 1
    assert str(emulator.root / "dbfs" / "FileStore" / "iris" / "data") in log
    # the cluster installed the requirements before the notebook: its install cell found
    # everything there, so it installed nothing and Python was not restarted
    (record,) = emulator.library_counts()["runs"]
    assert (record["library_installs"], record["notebook_installs"], record["restarts"]) \
        == (1, 0, 0)
    assert "already satisfied: nothing to install, no Python restart" in log
