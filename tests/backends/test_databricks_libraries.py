"""The requirement set of a Databricks job run (issue 19, item 1): one file per set, installed on
the cluster once; a changed set is a new file and the earlier one is marked for uninstall.
Through the real databricks-sdk against the emulator."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from databricks.sdk.service.compute import Library
from databricks.sdk.service.workspace import ImportFormat

from bricksmith.backends import databricks_libraries as libraries
from bricksmith.emulator import DEFAULT_CLUSTER_ID

USER = "someone@example.com"
NOTEBOOK = f"/Users/{USER}/.bricksmith/wf/run"
REPO = f"/Workspace/Users/{USER}/project"


@pytest.fixture
def emulator_options() -> dict:
    return {"python": Path(sys.executable)}


@pytest.fixture
def w(emulator):
    from databricks.sdk import WorkspaceClient

    client = WorkspaceClient(host=emulator.url, token=emulator.token)
    client.workspace.mkdirs(REPO.removeprefix("/Workspace"))
    return client


def put(w, name: str, text: str) -> None:
    w.workspace.import_(f"{REPO.removeprefix('/Workspace')}/{name}", format=ImportFormat.AUTO,
                        content=base64.b64encode(text.encode()).decode(), overwrite=True)


def test_the_key_covers_included_files_and_nothing_else(w):
    put(w, "requirements.txt", "kedro~=1.0\n-r more.txt\n")
    put(w, "more.txt", "pandas\n")
    first = libraries.requirement_set_key(w, f"{REPO}/requirements.txt")
    assert libraries.requirement_set_key(w, f"{REPO}/requirements.txt") == first
    put(w, "more.txt", "pandas>=2\n")  # an included file changed: another set
    assert libraries.requirement_set_key(w, f"{REPO}/requirements.txt") != first


def test_a_run_installs_its_set_once_and_a_new_set_marks_the_old_for_uninstall(w, emulator):
    put(w, "requirements.txt", "ipython\n")
    emulator.set_cluster_state(DEFAULT_CLUSTER_ID, "RUNNING")
    lines: list[str] = []
    first = libraries.prepare(w, cluster_id=DEFAULT_CLUSTER_ID, notebook=NOTEBOOK,
                              requirements=f"{REPO}/requirements.txt", log=lines.append)
    assert first["file"].startswith(f"/Workspace/Users/{USER}/.bricksmith/wf/requirements/")
    assert first["cluster_status"] is None
    exported = w.workspace.export(first["file"].removeprefix("/Workspace"))
    assert base64.b64decode(exported.content).decode().splitlines()[-1] \
        == f"-r {REPO}/requirements.txt"
    w.libraries.install(DEFAULT_CLUSTER_ID, libraries.task_libraries(first))  # as a run does
    wait_installed(w, first["file"])
    again = libraries.prepare(w, cluster_id=DEFAULT_CLUSTER_ID, notebook=NOTEBOOK,
                              requirements=f"{REPO}/requirements.txt", log=lines.append)
    assert again["file"] == first["file"] and again["cluster_status"] == "INSTALLED"

    put(w, "requirements.txt", "ipython\npytest\n")
    changed = libraries.prepare(w, cluster_id=DEFAULT_CLUSTER_ID, notebook=NOTEBOOK,
                                requirements=f"{REPO}/requirements.txt", log=lines.append)
    assert changed["file"] != first["file"] and changed["cluster_status"] is None
    statuses = {s.library.requirements: s.status.value
                for s in w.libraries.cluster_status(DEFAULT_CLUSTER_ID)}
    assert statuses == {first["file"]: "UNINSTALL_ON_RESTART"}
    assert any("marked for uninstall" in line for line in lines)


def wait_installed(w, path: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = {s.library.requirements: s.status.value
                 for s in w.libraries.cluster_status(DEFAULT_CLUSTER_ID)}
        if found.get(path) == "INSTALLED":
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} was not installed: {found}")


@pytest.mark.parametrize(("version", "supported"), [
    ("15.4.x-scala2.12", True), ("16.0.x-cpu-ml-scala2.12", True), ("14.3.x-scala2.12", False),
    ("13.3.x-gpu-ml-scala2.12", False), ("", True), ("custom:image", True)])
def test_requirements_libraries_need_runtime_15(version, supported):
    assert libraries.supports_requirements(version) is supported


def test_an_older_runtime_gets_no_task_library(w, emulator):
    put(w, "requirements.txt", "ipython\n")
    old = SimpleNamespace(get=lambda cluster_id: SimpleNamespace(spark_version="14.3.x"))
    client = SimpleNamespace(workspace=w.workspace, libraries=w.libraries, clusters=old)
    lines: list[str] = []
    prepared = libraries.prepare(client, cluster_id=DEFAULT_CLUSTER_ID, notebook=NOTEBOOK,
                                 requirements=f"{REPO}/requirements.txt", log=lines.append)
    assert libraries.task_libraries(prepared) is None
    assert "installs the requirements itself" in lines[-1]
    assert libraries.task_libraries({"file": "/Workspace/x.txt"}) == [
        Library(requirements="/Workspace/x.txt")]
