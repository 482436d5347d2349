"""What stands in front of every service: auth, permissions, faults, latency, counting."""

import base64
import io
import threading
import time

import pytest
from databricks.sdk import WorkspaceClient, errors
from databricks.sdk.service.files import FilesAPI

from bricksmith.emulator import Emulator, FaultPolicy, serve
from tests.emulator.conftest import USER


def client(emulator, token):
    return WorkspaceClient(host=emulator.url, token=token)


def test_a_missing_token_is_unauthenticated_a_wrong_one_invalid(emulator):
    import requests

    # A wrong token: 403 with the numeric error_code, as real workspaces answer
    # (databricks-sdk-go issues 795, 873, 917); the SDK maps it by status to PermissionDenied.
    with pytest.raises(errors.PermissionDenied, match="Invalid access token"):
        client(emulator, "wrong-token").current_user.me()
    answer = requests.get(f"{emulator.url}/api/2.0/preview/scim/v2/Me", timeout=10,
                          headers={"Authorization": "Bearer wrong-token"})
    assert answer.status_code == 403
    assert answer.json() == {"error_code": 403, "message": "Invalid access token."}

    answer = requests.get(f"{emulator.url}/api/2.0/preview/scim/v2/Me", timeout=10)
    assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"
    assert emulator.calls["GET /api/2.0/preview/scim/v2/Me"] == 0  # refused, not processed
    assert client(emulator, emulator.token).current_user.me().user_name == USER


def test_an_emulator_without_a_token_takes_any(tmp_path):
    with Emulator(tmp_path / "ws") as open_emulator:
        assert client(open_emulator, "anything").current_user.me().user_name == USER


@pytest.mark.parametrize(
    "emulator_options", [{"forbidden_paths": ["/Users/boss", "dbfs:/secret", "/Volumes/c/s/v"]}]
)
def test_forbidden_paths_are_permission_denied(w):
    with pytest.raises(errors.PermissionDenied):
        w.workspace.get_status("/Workspace/Users/boss/x")
    with pytest.raises(errors.PermissionDenied):
        w.dbfs.put("/secret/x", contents="", overwrite=True)
    with pytest.raises(errors.PermissionDenied):
        FilesAPI(w.api_client).upload("/Volumes/c/s/v/x", io.BytesIO(b"x"))
    w.dbfs.put("/public/x", contents="", overwrite=True)
    with pytest.raises(errors.NotFound):
        w.workspace.get_status("/Users/bossy")  # a prefix of names is not a prefix of paths


def test_unknown_endpoints_say_they_are_not_emulated(w):
    with pytest.raises(errors.NotImplemented, match="GET /api/2.0/secrets/scopes/list"):
        list(w.secrets.list_scopes())


def test_sdk_calls_survive_injected_faults(w, emulator, tmp_path):
    emulator.set_faults(FaultPolicy(rate=0.2, seed=4, retry_after_s=0))
    w.workspace.mkdirs(f"/Users/{USER}/f")
    for i in range(12):
        w.dbfs.put(f"/FileStore/f/{i}.txt", contents=base64.b64encode(b"%d" % i).decode())
    names = sorted(f.path for f in w.dbfs.list("/FileStore/f"))
    assert names == sorted(f"/FileStore/f/{i}.txt" for i in range(12))
    assert w.current_user.me().user_name == USER
    assert emulator.faults_injected > 0
    # Faults happen before processing: each put was processed exactly once.
    assert emulator.calls["POST /api/2.0/dbfs/put"] == 12


def test_faults_are_reproducible_for_a_seed():
    from bricksmith.emulator.faults import FaultInjector

    def draws(seed):
        injector = FaultInjector(FaultPolicy(rate=0.5, seed=seed))
        return [injector.before() for _ in range(50)]

    assert draws(3) == draws(3) != draws(4)
    assert {d for d in draws(3)} == {None, "429", "503", "drop"}
    capped = FaultInjector(FaultPolicy(rate=1.0, max_faults=2, kinds=("503",)))
    assert [capped.before() for _ in range(4)] == ["503", "503", None, None]
    with pytest.raises(ValueError):
        FaultPolicy(rate=2)


def test_latency_is_added_to_every_request(w, emulator):
    w.current_user.me()
    emulator.set_faults(FaultPolicy(latency_ms=300))
    started = time.monotonic()
    w.current_user.me()
    assert time.monotonic() - started >= 0.3


def test_calls_are_counted_per_method_and_path(w, emulator):
    emulator.reset_counts()
    w.current_user.me()
    w.current_user.me()
    w.dbfs.mkdirs("/x")
    assert emulator.calls == {
        "GET /api/2.0/preview/scim/v2/Me": 2,
        "POST /api/2.0/dbfs/mkdirs": 1,
    }


def test_serve_blocks_until_stopped(tmp_path):
    stop, lines = threading.Event(), []
    thread = threading.Thread(
        target=serve,
        kwargs={"root": tmp_path / "served", "token": "t", "ready": lines.append, "stop": stop},
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not lines and time.monotonic() < deadline:
        time.sleep(0.02)
    url = lines[0].split(" at ")[1].split()[0]
    assert WorkspaceClient(host=url, token="t").current_user.me().user_name == USER
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_server_error_faults_are_what_the_sdk_does_not_retry(w, emulator):
    """500 as the workspace words it, 502/504 as a proxy's HTML page: the SDK raises them at
    once (it retries only 429/503 and dropped connections)."""
    expected = {"500": (errors.InternalError, "INTERNAL_ERROR"),
                "502": (errors.DatabricksError, "BAD_GATEWAY"),
                "504": (errors.DeadlineExceeded, "GATEWAY_TIMEOUT")}
    for kind, (cls, code) in expected.items():
        emulator.set_faults(FaultPolicy(rate=1.0, kinds=(kind,), max_faults=1))
        emulator.reset_counts()
        with pytest.raises(cls) as raised:
            w.current_user.me()
        assert raised.value.error_code == code
        assert emulator.faults_injected == 1  # not retried
        assert w.current_user.me().user_name == USER


def test_an_answer_lost_after_processing_is_a_gateway_error(w, emulator):
    emulator.set_faults(FaultPolicy(error_after_rate=1.0, max_faults=1, seed=1))
    with pytest.raises(errors.DatabricksError) as raised:
        w.workspace.mkdirs(f"/Users/{USER}/made")
    assert raised.value.error_code in ("BAD_GATEWAY", "GATEWAY_TIMEOUT")
    assert w.workspace.get_status(f"/Users/{USER}/made").object_type.value == "DIRECTORY"
