"""Cluster libraries and serverless notebook tasks in the emulator (issue 19, item 2): what
the Libraries and Jobs APIs accept and refuse, what a cluster keeps between runs and loses when
it restarts, and each run's record of what it installed."""

from __future__ import annotations

import time

import pytest
from databricks.sdk import errors
from databricks.sdk.service.compute import Environment, Library, PythonPyPiLibrary
from databricks.sdk.service.jobs import JobEnvironment, NotebookTask, SubmitTask

from bricksmith.emulator import DEFAULT_CLUSTER_ID
from bricksmith.emulator.executor import notebook_library_events
from tests.emulator.conftest import USER, b64, notebook

NOTEBOOK = f"/Users/{USER}/libs/run"
REQUIREMENTS = f"/Workspace/Users/{USER}/libs/requirements.txt"


@pytest.fixture
def deployed(w):
    from databricks.sdk.service.workspace import ImportFormat, Language

    w.workspace.mkdirs(f"/Users/{USER}/libs")
    w.workspace.import_(NOTEBOOK, content=b64(notebook("dbutils.notebook.exit('ok')")),
                        format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    w.workspace.import_(REQUIREMENTS.removeprefix("/Workspace"), content=b64("ipython\n"),
                        format=ImportFormat.AUTO, overwrite=True)
    return w


def submit(w, *, cluster=DEFAULT_CLUSTER_ID, libraries=None, environment_key=None,
           environments=None):
    task = SubmitTask(task_key="main", notebook_task=NotebookTask(notebook_path=NOTEBOOK),
                      existing_cluster_id=cluster, libraries=libraries,
                      environment_key=environment_key)
    return w.jobs.submit(run_name="libs", tasks=[task], environments=environments).result()


def statuses(w) -> list[tuple[str, str]]:
    return [(s.library.requirements, s.status.value)
            for s in w.libraries.cluster_status(DEFAULT_CLUSTER_ID)]


def test_task_libraries_install_once_per_cluster_start(deployed, emulator):
    w = deployed
    library = [Library(requirements=REQUIREMENTS)]
    submit(w, libraries=library)
    submit(w, libraries=library)
    assert statuses(w) == [(REQUIREMENTS, "INSTALLED")]
    runs = emulator.library_counts()["runs"]
    assert [r["library_installs"] for r in runs] == [1, 0]
    assert emulator.library_counts()["cluster_installs"] == {DEFAULT_CLUSTER_ID: 1}

    w.libraries.uninstall(DEFAULT_CLUSTER_ID, library)  # stays until the cluster restarts
    assert statuses(w) == [(REQUIREMENTS, "UNINSTALL_ON_RESTART")]
    emulator.clusters.settle(DEFAULT_CLUSTER_ID, "RESTARTING")
    assert statuses(w) == []  # a restart leaves nothing installed
    submit(w, libraries=library)
    assert emulator.library_counts()["cluster_installs"] == {DEFAULT_CLUSTER_ID: 2}


def test_the_libraries_api_refuses_what_databricks_refuses(deployed, emulator):
    w = deployed
    with pytest.raises(errors.BadRequest):  # "This call will fail if the cluster is terminated"
        w.libraries.install(DEFAULT_CLUSTER_ID, [Library(requirements=REQUIREMENTS)])
    with pytest.raises(errors.BadRequest):
        w.libraries.cluster_status("no-such-cluster").__next__()
    emulator.set_cluster_state(DEFAULT_CLUSTER_ID, "RUNNING")
    with pytest.raises(errors.BadRequest):  # only workspace and volume paths
        w.libraries.install(DEFAULT_CLUSTER_ID, [Library(requirements="dbfs:/r.txt")])
    with pytest.raises(errors.BadRequest):  # exactly one kind
        w.libraries.install(DEFAULT_CLUSTER_ID, [Library()])
    with pytest.raises(errors.DatabricksError):  # other kinds are not emulated (501)
        w.libraries.install(DEFAULT_CLUSTER_ID, [Library(pypi=PythonPyPiLibrary("six"))])
    assert statuses(w) == []

    w.libraries.install(DEFAULT_CLUSTER_ID, [Library(requirements=REQUIREMENTS)])
    deadline = time.monotonic() + 30
    while statuses(w) != [(REQUIREMENTS, "INSTALLED")] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses(w) == [(REQUIREMENTS, "INSTALLED")]


def test_a_serverless_notebook_task_takes_no_task_environment(deployed, emulator):
    """As a workspace answers (dbt-databricks issue 1009, 2025-09; terraform-provider-databricks
    issue 4388): a notebook task with an ``environment_key`` is refused and nothing runs; without
    one it runs on serverless compute with nothing installed for it."""
    w = deployed
    with pytest.raises(errors.BadRequest):  # no task libraries on serverless
        submit(w, cluster=None, libraries=[Library(requirements=REQUIREMENTS)])
    environment = [JobEnvironment(environment_key="default", spec=Environment(
        environment_version="4", dependencies=[f"-r {REQUIREMENTS}"]))]
    for key, environments in (("default", environment), ("missing", None)):
        with pytest.raises(errors.InvalidParameterValue) as info:
            submit(w, cluster=None, environment_key=key, environments=environments)
        assert str(info.value) == (
            "A task environment can not be provided for notebook task main. Please use the %pip "
            "magic command to install notebook-scoped Python libraries and Python wheel packages")
    assert emulator.library_counts()["runs"] == []  # nothing was submitted
    assert submit(w, cluster=None).state.result_state.value == "SUCCESS"
    assert submit(w, cluster=None).state.result_state.value == "SUCCESS"
    counts = emulator.library_counts()
    assert [r["library_installs"] for r in counts["runs"]] == [0, 0]
    assert counts["cluster_installs"] == {}


def test_a_runs_notebook_installs_and_restarts_are_read_from_its_log():
    log = ("[bricksmith] installing requirements: missing kedro\n"
           "dbutils.library.restartPython(): nothing to do, the packages were installed first\n"
           "$ /env/bin/python -m pip install -r /w/requirements.txt\n"
           "[bricksmith] every requirement in /w/requirements.txt is already satisfied\n")
    assert notebook_library_events(log) == (2, 1)
    assert notebook_library_events("") == (0, 0)
