"""The databricks backend's compute and size limits (issue 16, points 2 and 7): serverless
submits, cluster waits, run status, Files API and DBFS listing limits. SDK answers are the
SDK's own dataclasses; the data calls go to the emulator."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from databricks.sdk import errors as sdk
from databricks.sdk.service.compute import State
from databricks.sdk.service.jobs import Run

from bricksmith.backends import databricks_limits
from bricksmith.backends.databricks import DBFS_DENIED_HINT, DatabricksBackend, run_phase
from bricksmith.errors import BackendError


class FakeJobs:
    def __init__(self, refuse: Exception | None = None) -> None:
        self.submitted: list[dict] = []
        self.refuse = refuse

    def submit(self, **kwargs):
        if self.refuse:
            raise self.refuse
        self.submitted.append(kwargs)
        return SimpleNamespace(run_id=7)


def test_a_serverless_submit_carries_no_task_environment():
    """A workspace refuses a job environment on a notebook task (dbt-databricks issue 1009:
    "A task environment can not be provided for notebook task ..."): a serverless run sends
    neither ``environments`` nor the task's ``environment_key``; its notebook installs."""
    jobs = FakeJobs()
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id=None,
                                serverless=True, client=SimpleNamespace(jobs=jobs))
    assert backend._submit("/Users/u/run", "r", {}, "tok", 60) == 7
    sent = jobs.submitted[0]
    task = sent["tasks"][0]
    assert "environments" not in sent or sent["environments"] is None
    assert task.existing_cluster_id is None and task.environment_key is None
    assert task.libraries is None and "environment_key" not in task.as_dict()


def test_a_cluster_submit_has_no_environment():
    jobs = FakeJobs()
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id="c-1",
                                serverless=True, client=SimpleNamespace(jobs=jobs))
    backend._submit("/Users/u/run", "r", {}, "tok", 60)
    sent = jobs.submitted[0]
    assert sent.get("environments") is None and sent["tasks"][0].existing_cluster_id == "c-1"
    assert sent["tasks"][0].environment_key is None


def test_no_cluster_and_no_serverless_is_refused_before_any_call():
    jobs = FakeJobs()
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id=None,
                                client=SimpleNamespace(jobs=jobs))
    with pytest.raises(BackendError) as info:
        backend._submit("/Users/u/run", "r", {}, "tok", 60)
    assert "serverless: true" in info.value.hint and not jobs.submitted


def test_a_workspace_without_serverless_gets_a_hint_naming_cluster_id():
    refusal = sdk.InvalidParameterValue(
        "Either new_cluster or existing_cluster_id must be specified")
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id=None, serverless=True,
                                client=SimpleNamespace(jobs=FakeJobs(refusal)))
    with pytest.raises(BackendError) as info:
        backend._submit("/Users/u/run", "r", {}, "tok", 60)
    assert "refused a serverless job run" in str(info.value)
    assert "existing_cluster_id must be specified" in str(info.value)
    assert "cluster_id" in info.value.hint and "serverless jobs may not be enabled" in \
        info.value.hint


class FakeClusters:
    def __init__(self, state: State, wait_error: Exception | None = None) -> None:
        self.state, self.wait_error, self.ensured = state, wait_error, 0

    def get(self, cluster_id):
        return SimpleNamespace(state=self.state)

    def ensure_cluster_is_running(self, cluster_id):
        self.ensured += 1
        if self.wait_error:
            raise self.wait_error


@pytest.mark.parametrize("state", [State.PENDING, State.RESIZING, State.RESTARTING])
def test_a_settling_cluster_is_waited_for_with_a_message(state):
    clusters = FakeClusters(state)
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id="c-1",
                                client=SimpleNamespace(clusters=clusters))
    said: list[str] = []
    backend._ensure_cluster(said.append)
    assert said == [f"cluster c-1 is {state.value}; waiting until it is RUNNING"]
    assert clusters.ensured == 1


def test_a_terminated_cluster_is_started_with_a_message():
    said: list[str] = []
    DatabricksBackend(host="https://h", profile=None, cluster_id="c-1",
                      client=SimpleNamespace(clusters=FakeClusters(State.TERMINATED))
                      )._ensure_cluster(said.append)
    assert said == ["cluster c-1 is TERMINATED; starting it"]


def test_a_cluster_wait_past_the_sdk_limit_says_the_cluster_did_not_start():
    # what databricks-sdk's wait_get_cluster_running raises after 20 minutes (no __cause__)
    late = TimeoutError("timed out after 0:20:00: current status: RESIZING")
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id="c-1",
                                client=SimpleNamespace(clusters=FakeClusters(State.RESIZING,
                                                                             late)))
    with pytest.raises(BackendError) as info:
        backend._ensure_cluster(lambda message: None)
    assert "cluster c-1 did not start" in str(info.value) and "20 minutes" in str(info.value)
    assert "network" not in info.value.hint and "event log" in info.value.hint


def test_a_cluster_in_error_is_named():
    broken = RuntimeError("Cluster x is State.ERROR: disk full")
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id="c-1",
                                client=SimpleNamespace(clusters=FakeClusters(State.ERROR,
                                                                             broken)))
    with pytest.raises(BackendError, match="cannot run jobs: Cluster x is State.ERROR"):
        backend._ensure_cluster(lambda message: None)


def test_run_status_is_read_before_the_deprecated_state():
    both = Run.from_dict({
        "state": {"life_cycle_state": "RUNNING"},  # stale: status is the newer field
        "status": {"state": "TERMINATED",
                   "termination_details": {"code": "SUCCESS", "message": "done"}},
    })
    assert run_phase(both) == ("TERMINATED", "SUCCESS", "done")
    failed = Run.from_dict({"status": {"state": "TERMINATED", "termination_details": {
        "code": "RUN_EXECUTION_ERROR", "message": "boom"}}})
    assert run_phase(failed) == ("TERMINATED", "RUN_EXECUTION_ERROR", "boom")
    going = Run.from_dict({"status": {"state": "QUEUED"}})
    assert run_phase(going) == ("QUEUED", None, None)
    old = Run.from_dict({"state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED",
                                   "state_message": "x"}})
    assert run_phase(old) == ("TERMINATED", "FAILED", "x")


def test_a_dbfs_permission_denied_names_the_volume_form(tmp_path):
    def denied(*args, **kwargs):
        raise sdk.PermissionDenied("User does not have permission on DBFS root")

    backend = DatabricksBackend(host="https://h", profile=None, cluster_id="c")
    with pytest.raises(BackendError) as info, backend.errors("upload data to dbfs:/FileStore/x"):
        denied()
    assert info.value.hint == DBFS_DENIED_HINT and "/Volumes/" in info.value.hint
    with pytest.raises(BackendError) as token, backend.errors("upload data to dbfs:/x/y"):
        raise sdk.PermissionDenied("Invalid access token.")
    assert token.value.hint != DBFS_DENIED_HINT  # a wrong token is not a disabled DBFS root


def test_a_volume_file_over_the_files_api_limit_is_refused_before_any_put(
        tmp_path, emulator, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    monkeypatch.setattr(databricks_limits, "FILES_API_LIMIT", 100)  # 5 GiB, made small
    source = tmp_path / "data"
    source.mkdir()
    (source / "small.csv").write_bytes(b"x" * 10)
    (source / "huge.bin").write_bytes(b"y" * 101)
    backend = DatabricksBackend(host=emulator.url, profile=None, cluster_id="c")
    with pytest.raises(BackendError) as info:
        backend.upload(source, "/Volumes/main/default/v/data", {}, lambda message: None)
    assert "huge.bin" in str(info.value) and "at most 5 GiB" in str(info.value)
    assert not any(key.startswith("PUT /api/2.0/fs/files/") for key in emulator.calls)


def test_a_volume_upload_streams_from_the_open_file(tmp_path, emulator, monkeypatch):
    from databricks.sdk.service.files import FilesAPI

    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    sent: list[type] = []
    upload = FilesAPI.upload

    def spy(self, path, contents, **kwargs):
        sent.append(type(contents))
        return upload(self, path, contents, **kwargs)

    monkeypatch.setattr(FilesAPI, "upload", spy)
    source = tmp_path / "data"
    source.mkdir()
    (source / "big.bin").write_bytes(b"z" * (3 << 20))
    backend = DatabricksBackend(host=emulator.url, profile=None, cluster_id="c")
    backend.upload(source, "/Volumes/main/default/v/data", {}, lambda message: None)
    assert [t.__name__ for t in sent] == ["BufferedReader"]  # the file, not its bytes
    landed = emulator.root / "Volumes/main/default/v/data/big.bin"
    assert landed.read_bytes() == b"z" * (3 << 20)


def test_a_crowded_dbfs_folder_is_read_by_status_not_listed(tmp_path, emulator, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    monkeypatch.setattr(databricks_limits, "DBFS_LIST_LIMIT", 3)  # 10,000, made small
    source = tmp_path / "data"
    (source / "many").mkdir(parents=True)
    for i in range(5):
        (source / "many" / f"f{i}.csv").write_text(f"{i}\n")
    (source / "top.txt").write_text("top")
    backend = DatabricksBackend(host=emulator.url, profile=None, cluster_id="c")
    target = "dbfs:/FileStore/crowd/data"
    first = backend.upload(source, target, {}, lambda message: None)
    assert first["_copied"] == 6
    lists = emulator.calls["GET /api/2.0/dbfs/list"]
    statuses = emulator.calls["GET /api/2.0/dbfs/get-status"]
    again = backend.upload(source, target, first, lambda message: None)
    assert again["_copied"] == 0  # sizes came from get-status: nothing is sent again
    assert emulator.calls["GET /api/2.0/dbfs/get-status"] - statuses == 5
    assert emulator.calls["GET /api/2.0/dbfs/list"] - lists == 1  # the top, not many/
    assert backend.upload_drift(source, again) == []
    (emulator.root / "dbfs/FileStore/crowd/data/many/f2.csv").unlink()
    assert backend.upload_drift(source, again) == [
        "uploaded file missing or changed: dbfs:/FileStore/crowd/data/many/f2.csv"]


def test_crowded_folders_counts_direct_children_only():
    rels = [f"a/{i}" for i in range(4)] + ["a/b/x", "top"]
    assert databricks_limits.crowded_folders(rels, limit=3) == {"a"}
    assert databricks_limits.crowded_folders(rels, limit=4) == set()
