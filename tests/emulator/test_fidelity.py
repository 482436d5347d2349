"""The emulator answers as a real workspace does (issue 16, item 8; facts and sources in
/work/shared/DATABRICKS-FACTS.md and in each emulator module's docstring). The fidelity audit's
curl reproductions (shared/cases/fidelity/curl_repros.sh) are here as raw HTTP calls."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
import uuid

import pytest

from bricksmith.emulator import DEFAULT_CLUSTER_ID, Cluster, Emulator, usage

from .conftest import b64, notebook


def call(emulator, method, path, body=None, *, data=None, headers=None, token=True):
    """(status, parsed JSON or text) of one raw HTTP call, as curl would make it."""
    head = dict(headers or {})
    if token:
        head["Authorization"] = f"Bearer {emulator.token}"
    if body is not None:
        data = json.dumps(body).encode()
        head.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(emulator.url + path, data=data, method=method, headers=head)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, raw, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers.get("Content-Type")
    return status, (json.loads(raw) if "json" in (kind or "") else raw.decode())


def multipart(fields: dict[str, bytes | str], files: dict[str, bytes]) -> tuple[bytes, str]:
    """A form as the legacy databricks-cli sends it (it labels the file part
    ``multipart/form-data``)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        value = value.encode() if isinstance(value, str) else value
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value + b"\r\n"
        )
    for name, value in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="f.bin"\r\nContent-Type: multipart/form-data\r\n\r\n'.encode()
            + value + b"\r\n"
        )
    kind = f"multipart/form-data; boundary={boundary}"
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), kind


# -- "already exists" is 400 on DBFS create / put and notebook import (M7) ---------------------


def test_dbfs_create_and_put_onto_an_existing_file_are_400(emulator):
    put = {"path": "/FileStore/f.txt", "contents": b64("x")}
    assert call(emulator, "POST", "/api/2.0/dbfs/put", put)[0] == 200
    for route, body in (("create", {"path": "/FileStore/f.txt"}), ("put", put)):
        status, answer = call(emulator, "POST", f"/api/2.0/dbfs/{route}", body)
        assert (status, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    status, _ = call(emulator, "POST", "/api/2.0/dbfs/create",
                     {"path": "/FileStore/f.txt", "overwrite": True})
    assert status == 200


def test_a_notebook_import_onto_a_notebook_is_400_and_onto_a_file_409(emulator):
    home = "/Users/someone@example.com"
    source = {"format": "SOURCE", "language": "PYTHON", "content": b64("print(1)")}
    imported = call(emulator, "POST", "/api/2.0/workspace/import", {"path": f"{home}/nb", **source})
    assert imported[0] == 200
    status, answer = call(emulator, "POST", "/api/2.0/workspace/import",
                          {"path": f"{home}/nb", **source})
    assert (status, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    assert answer["message"] == f"Path ({home}/nb) already exists."  # what the Go CLI parses
    raw = {"format": "RAW", "content": b64("data")}
    imported = call(emulator, "POST", "/api/2.0/workspace/import", {"path": f"{home}/f.txt", **raw})
    assert imported[0] == 200
    status, answer = call(emulator, "POST", "/api/2.0/workspace/import",
                          {"path": f"{home}/f.txt", **raw})
    assert (status, answer["error_code"]) == (409, "RESOURCE_ALREADY_EXISTS")


# -- case-sensitive format (M10), lowercase query booleans, GET with a JSON body (M8) ----------


def test_format_is_case_sensitive(emulator):
    body = {"path": "/Users/someone@example.com/nb", "format": "source", "language": "PYTHON",
            "content": b64("print(1)")}
    status, answer = call(emulator, "POST", "/api/2.0/workspace/import", body)
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "source" in answer["message"] and "SOURCE" in answer["message"]
    assert not (emulator.root / "Workspace/Users/someone@example.com/nb.py").exists()


def test_query_booleans_must_be_lowercase(emulator, w):
    w.files.upload("/Volumes/main/default/v/a.txt", io.BytesIO(b"one"))
    path = "/api/2.0/fs/files/Volumes/main/default/v/a.txt"
    head = {"Content-Type": "application/octet-stream"}
    status, answer = call(emulator, "PUT", path + "?overwrite=True", data=b"two", headers=head)
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert (emulator.root / "Volumes/main/default/v/a.txt").read_bytes() == b"one"
    assert call(emulator, "PUT", path + "?overwrite=true", data=b"two", headers=head)[0] < 300
    assert (emulator.root / "Volumes/main/default/v/a.txt").read_bytes() == b"two"
    assert call(emulator, "GET", "/api/2.2/jobs/runs/list?active_only=TRUE")[0] == 400
    assert call(emulator, "GET", "/api/2.2/jobs/runs/list?active_only=true")[0] == 200


def test_a_get_may_carry_its_parameters_as_a_json_body(emulator):
    status, answer = call(emulator, "GET", "/api/2.1/clusters/get",
                          {"cluster_id": DEFAULT_CLUSTER_ID})
    assert status == 200 and answer["cluster_id"] == DEFAULT_CLUSTER_ID


# -- DBFS: multipart put (M6), expiring handles, DBFS root disabled ----------------------------


@pytest.mark.parametrize("field", ["file", "contents"])
def test_multipart_put_stores_the_whole_file(emulator, field):
    data = b"\r\n--" + bytes(range(256)) * 400 + b"\r\n"  # 100 KB of binary, CRLF at both ends
    body, kind = multipart({"path": "/FileStore/f.bin", "overwrite": "true"}, {field: data})
    status, _ = call(emulator, "POST", "/api/2.0/dbfs/put", data=body,
                     headers={"Content-Type": kind})
    assert status == 200
    assert (emulator.root / "dbfs/FileStore/f.bin").read_bytes() == data
    status, info = call(emulator, "GET", "/api/2.0/dbfs/get-status?path=/FileStore/f.bin")
    assert info["file_size"] == len(data)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator_options(clock) -> dict:
    import sys
    from pathlib import Path

    return {"python": Path(sys.executable), "serverless": True, "clock": clock}


def test_a_dbfs_handle_expires_after_ten_idle_minutes(emulator, clock):
    created = call(emulator, "POST", "/api/2.0/dbfs/create", {"path": "/FileStore/s.bin"})
    handle = created[1]["handle"]
    clock.now += 9 * 60  # used within 10 minutes: still open, and the idle time restarts
    assert call(emulator, "POST", "/api/2.0/dbfs/add-block",
                {"handle": handle, "data": b64("a")})[0] == 200
    clock.now += 9 * 60
    assert call(emulator, "POST", "/api/2.0/dbfs/add-block",
                {"handle": handle, "data": b64("b")})[0] == 200
    clock.now += 10 * 60  # idle for 10 minutes: gone, and nothing lands
    status, answer = call(emulator, "POST", "/api/2.0/dbfs/close", {"handle": handle})
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert not (emulator.root / "dbfs/FileStore/s.bin").exists()
    assert not list((emulator.root).rglob("dbfs-*"))  # its scratch file is gone too


def test_a_workspace_without_dbfs_root_refuses_dbfs(tmp_path):
    with Emulator(tmp_path / "ws", dbfs_root_disabled=True, token="t") as emulator:
        for method, path, body in (
            ("GET", "/api/2.0/dbfs/list?path=/FileStore", None),
            ("POST", "/api/2.0/dbfs/put", {"path": "/FileStore/x", "contents": b64("x")}),
        ):
            status, answer = call(emulator, method, path, body)
            assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED")
            assert "/Volumes/" in answer["message"]
        assert not (emulator.root / "dbfs/FileStore/x").exists()
        from databricks.sdk import WorkspaceClient

        w = WorkspaceClient(host=emulator.url, token="t")
        assert w.settings.disable_legacy_dbfs.get().disable_legacy_dbfs.value is True
        assert call(emulator, "PUT", "/api/2.0/fs/files/Volumes/c/s/v/x", data=b"x",
                    headers={"Content-Type": "application/octet-stream"})[0] < 300


# -- compute (M5) and clusters -----------------------------------------------------------------

NB = "/Users/someone@example.com/x"


def _submit(emulator, **task):
    body = {"run_name": "r", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": NB},
                                         **task}]}
    return call(emulator, "POST", "/api/2.2/jobs/runs/submit", body)


def test_a_submit_without_compute_is_refused_without_serverless(tmp_path):
    with Emulator(tmp_path / "ws", token="t") as emulator:
        status, answer = _submit(emulator)
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert answer["message"] == "Either new_cluster or existing_cluster_id must be specified."
        assert emulator.runs == []


def test_a_job_clusters_id_is_refused_as_existing_cluster_id(tmp_path):
    clusters = (Cluster(DEFAULT_CLUSTER_ID), Cluster("0101-job-cluster", source="JOB"))
    with Emulator(tmp_path / "ws", token="t", clusters=clusters) as emulator:
        status, answer = _submit(emulator, existing_cluster_id="0101-job-cluster")
        assert status == 400 and "all-purpose" in answer["message"]
        assert emulator.runs == []


@pytest.mark.parametrize("state", ["RESIZING", "RESTARTING", "PENDING"])
def test_a_busy_cluster_becomes_running_by_itself_and_refuses_start(w, emulator, state):
    emulator.set_cluster_state(DEFAULT_CLUSTER_ID, state)
    status, answer = call(emulator, "POST", "/api/2.1/clusters/start",
                          {"cluster_id": DEFAULT_CLUSTER_ID})
    assert (status, answer["error_code"]) == (400, "INVALID_STATE")
    w.clusters.ensure_cluster_is_running(DEFAULT_CLUSTER_ID)  # the SDK only waits for these
    assert emulator.cluster_state() == "RUNNING"
    status, answer = call(emulator, "POST", "/api/2.0/clusters/start",
                          {"cluster_id": DEFAULT_CLUSTER_ID})
    assert (status, answer["error_code"]) == (400, "INVALID_STATE")


# -- older paths (M9), the run page, the serve lines -------------------------------------------


def test_older_jobs_and_clusters_paths_are_served_and_the_run_page_shows_the_run(w, emulator):
    from databricks.sdk.service.workspace import ImportFormat, Language

    w.workspace.import_(NB, content=b64(notebook('dbutils.notebook.exit("ok")')),
                        format=ImportFormat.SOURCE, language=Language.PYTHON)
    run_id = _submit(emulator)[1]["run_id"]
    w.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    for version in ("2.0", "2.1", "2.2"):
        status, run = call(emulator, "GET", f"/api/{version}/jobs/runs/get?run_id={run_id}")
        assert status == 200 and run["state"]["result_state"] == "SUCCESS"
        task_id = run["tasks"][0]["run_id"]
        status, out = call(emulator, "GET", f"/api/{version}/jobs/runs/get-output?run_id={task_id}")
        assert out["notebook_output"]["result"] == "ok"
        status, listed = call(emulator, "GET", f"/api/{version}/jobs/runs/list")
        assert [r["run_id"] for r in listed["runs"]] == [run_id]
    for version in ("2.0", "2.1"):
        status, cluster = call(emulator, "GET",
                               f"/api/{version}/clusters/get?cluster_id={DEFAULT_CLUSTER_ID}")
        assert cluster["cluster_id"] == DEFAULT_CLUSTER_ID
        status, listed = call(emulator, "GET", f"/api/{version}/clusters/list")
        assert [c["cluster_id"] for c in listed["clusters"]] == [DEFAULT_CLUSTER_ID]
    page_url = run["run_page_url"]
    assert page_url.startswith(emulator.url + "/?o=0#job/")
    fragment = page_url.split("#", 1)[1]
    status, page = call(emulator, "GET", page_url.split(emulator.url, 1)[1].split("#")[0],
                        token=False)  # a browser sends no token
    assert status == 200 and f'id="{fragment}"' in page and "SUCCESS" in page and NB in page


def test_serve_says_what_to_export_and_never_the_token(tmp_path):
    with Emulator(tmp_path / "a", clusters=(Cluster("1234-567890-abcdefgh"),)) as emulator:
        lines = "\n".join(usage(emulator, emulator.url))
    assert f"export DATABRICKS_HOST={emulator.url}" in lines
    assert "any token works" in lines
    assert "export DATABRICKS_CLUSTER_ID=1234-567890-abcdefgh" in lines
    with Emulator(tmp_path / "b", token="s3cret-value") as emulator:
        lines = "\n".join(usage(emulator, emulator.url, "MY_TOKEN"))
    assert 'export DATABRICKS_TOKEN="$MY_TOKEN"' in lines and "required" in lines
    assert "s3cret-value" not in lines
    assert base64.b64encode(b"s3cret-value").decode() not in lines


@pytest.mark.parametrize("emulator_options", [{"forbidden_paths": ["dbfs:/secret"]}])
def test_a_get_with_a_json_body_is_still_permission_checked(emulator):
    (emulator.root / "dbfs/secret").mkdir(parents=True)
    (emulator.root / "dbfs/secret/k.txt").write_text("key")
    status, answer = call(emulator, "GET", "/api/2.0/dbfs/read", {"path": "/secret/k.txt"})
    assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED")
