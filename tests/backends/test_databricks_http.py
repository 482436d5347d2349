"""The databricks backend's HTTP layer: which calls are retried after 500/502/504, how (a fake
clock: no test waits), and what is said when the budget runs out or a workspace throttles."""

from __future__ import annotations

import pytest
from databricks.sdk import errors as sdk

from bricksmith.backends import databricks as databricks_backend
from bricksmith.backends import databricks_http as http
from bricksmith.backends.databricks import DatabricksBackend
from bricksmith.emulator import FaultPolicy
from bricksmith.errors import BackendError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def policy(clock: FakeClock, budget_s: float = 60.0, jitter: float = 0.5) -> http.RetryPolicy:
    return http.RetryPolicy(budget_s=budget_s, base_s=0.5, cap_s=8.0, clock=clock,
                            sleep=clock.sleep, random=lambda: jitter)


def bad_gateway() -> sdk.DatabricksError:
    """What the SDK raises for a proxy's 502 page (``_HtmlErrorDeserializer``)."""
    return sdk.DatabricksError("502 Bad Gateway", error_code="BAD_GATEWAY")


def failing(*errors):
    """A call that raises ``errors`` in turn, then answers {"ok": n}."""
    calls = []

    def send():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return {"ok": len(calls)}

    return send, calls


def test_server_errors_are_retried_with_exponential_backoff_and_jitter():
    clock = FakeClock()
    send, calls = failing(sdk.InternalError("boom"), bad_gateway(), sdk.DeadlineExceeded("late"))
    assert policy(clock).run(send, retryable=http.server_error) == {"ok": 4}
    assert len(calls) == 4
    # half of the step plus half of it at random (0.5 here): 0.5, 1, 2 s steps
    assert clock.slept == [0.375, 0.75, 1.5]
    assert [policy(clock, jitter=0).delay(n) for n in (1, 2, 6, 9)] == [0.25, 0.5, 4.0, 4.0]
    assert [policy(clock, jitter=1).delay(n) for n in (1, 9)] == [0.5, 8.0]


def test_the_budget_ends_the_retries_and_keeps_the_servers_message():
    clock = FakeClock()
    send, calls = failing(*[sdk.InternalError("the service is temporarily unavailable",
                                              error_code="INTERNAL_ERROR")] * 100)
    with pytest.raises(http.ServerErrorsPersisted) as raised:
        policy(clock, budget_s=20).run(send, retryable=http.server_error)
    assert clock.now <= 20
    assert raised.value.tries == len(calls) and 3 < len(calls) < 10
    assert "500 INTERNAL_ERROR (the service is temporarily unavailable)" in str(raised.value)


def test_other_errors_are_raised_at_once():
    clock = FakeClock()
    send, calls = failing(sdk.NotFound("gone"))
    with pytest.raises(sdk.NotFound):
        policy(clock).run(send, retryable=http.server_error)
    assert len(calls) == 1 and clock.slept == []


def test_which_errors_are_transient_server_errors():
    assert http.server_error(sdk.InternalError("x"))
    assert http.server_error(sdk.DeadlineExceeded("x"))
    assert http.server_error(bad_gateway())
    assert http.server_error(sdk.DatabricksError("Bad Gateway"))  # an empty 502 body
    assert http.server_error(sdk.TemporarilyUnavailable("x"))  # without Retry-After
    assert not http.server_error(sdk.DataLoss("x"))
    assert not http.server_error(sdk.TooManyRequests("x"))  # the SDK's to retry
    assert not http.server_error(sdk.BadRequest("x"))
    assert not http.server_error(sdk.NotFound("x"))
    assert not http.server_error(TimeoutError("Timed out after 0:02:00"))


@pytest.mark.parametrize(("method", "path", "args", "kind"), [
    ("GET", "/api/2.2/jobs/runs/get", {"run_id": 1}, http.REPEAT),
    ("POST", "/api/2.2/jobs/runs/submit", {"idempotency_token": "t"}, http.REPEAT),
    ("POST", "/api/2.2/jobs/runs/submit", {}, http.ONCE),
    ("POST", "/api/2.2/jobs/runs/cancel", {"run_id": 1}, http.REPEAT),
    ("POST", "/api/2.0/workspace/import", {"overwrite": True}, http.REPEAT),
    ("POST", "/api/2.0/workspace/import", {}, http.ONCE),
    ("POST", "/api/2.0/dbfs/put", {"overwrite": True}, http.REPEAT),
    ("PUT", "/api/2.0/fs/files/Volumes/c/s/v/x.csv", {"overwrite": "true"}, http.REPEAT),
    ("PUT", "/api/2.0/fs/files/Volumes/c/s/v/x.csv", {"overwrite": "false"}, http.ONCE),
    ("PATCH", "/api/2.0/repos/12", {"branch": "main"}, http.REPEAT),
    ("POST", "/api/2.0/repos", {"path": "/Repos/u/x"}, http.CONFIRM),
    ("POST", "/api/2.0/git-credentials", {}, http.CONFIRM),
    ("POST", "/api/2.0/dbfs/move", {}, http.CONFIRM),
    ("POST", "/api/2.1/clusters/start", {}, http.CONFIRM),
    ("DELETE", "/api/2.0/repos/12", {}, http.CONFIRM),
    ("POST", "/api/2.0/dbfs/add-block", {}, http.ONCE),
    ("POST", "/api/2.0/dbfs/close", {}, http.ONCE),
])
def test_call_kinds(method, path, args, kind):
    assert http.call_kind(method, path, None, args) == kind


class FakeApi:
    """An ``ApiClient`` stand-in: answers per (method, path) from queues of results."""

    def __init__(self, answers: dict) -> None:
        self.answers = {key: list(value) for key, value in answers.items()}
        self.sent: list[tuple[str, str]] = []

    def do(self, method, path=None, url=None, query=None, headers=None, body=None, raw=False,
           files=None, data=None, auth=None, response_headers=None):
        self.sent.append((method, path))
        queue = self.answers[(method, path)]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def installed(answers: dict) -> tuple[FakeApi, FakeClock]:
    api, clock = FakeApi(answers), FakeClock()
    http.install(api, policy(clock))
    return api, clock


def test_a_create_that_took_effect_is_read_back_not_repeated():
    created = {"credential_id": 7, "git_provider": "gitHub"}
    api, _ = installed({
        ("POST", "/api/2.0/git-credentials"): [bad_gateway(), created],
        ("GET", "/api/2.0/git-credentials"): [{"credentials": [created]}],
    })
    assert api.do("POST", "/api/2.0/git-credentials", body={"git_provider": "gitHub"}) == created
    assert api.sent.count(("POST", "/api/2.0/git-credentials")) == 1


def test_a_create_that_did_not_take_effect_is_sent_again():
    repo = {"id": 3, "path": "/Repos/u/x"}
    api, _ = installed({
        ("POST", "/api/2.0/repos"): [sdk.InternalError("x"), repo],
        ("GET", "/api/2.0/workspace/get-status"): [sdk.NotFound("no such path")],
    })
    assert api.do("POST", "/api/2.0/repos", body={"path": "/Repos/u/x"}) == repo
    assert api.sent.count(("POST", "/api/2.0/repos")) == 2


def test_a_repeated_delete_answered_404_was_done_by_the_first_try():
    api, _ = installed({("DELETE", "/api/2.0/repos/3"): [bad_gateway(), sdk.NotFound("gone")]})
    assert api.do("DELETE", "/api/2.0/repos/3") == {}


def test_a_call_that_cannot_be_repeated_says_its_outcome_is_unknown():
    api, clock = installed({("POST", "/api/2.0/dbfs/add-block"): [bad_gateway()]})
    with pytest.raises(http.ServerErrorUnconfirmed) as raised:
        api.do("POST", "/api/2.0/dbfs/add-block", body={"handle": 1, "data": ""})
    assert api.sent == [("POST", "/api/2.0/dbfs/add-block")] and clock.slept == []
    assert "BAD_GATEWAY (502 Bad Gateway)" in str(raised.value)
    assert "whether POST /api/2.0/dbfs/add-block took effect is not known" in str(raised.value)


def test_a_stream_is_rewound_before_it_is_sent_again():
    import io

    seen = []
    stream = io.BytesIO(b"abc")

    class Api(FakeApi):
        def do(self, method, path=None, data=None, **kwargs):
            seen.append(data.read())
            if len(seen) == 1:
                raise sdk.InternalError("x")
            return {}

    api, clock = Api({}), FakeClock()
    http.install(api, policy(clock))
    api.do("PUT", "/api/2.0/fs/files/Volumes/c/s/v/x", query={"overwrite": "true"}, data=stream)
    assert seen == [b"abc", b"abc"]


def test_a_throttling_workspace_is_named_with_its_answer_not_as_a_network_fault(
        emulator, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    monkeypatch.setattr(databricks_backend, "PREFLIGHT_RETRY_S", 2)
    said = "(injected fault: please try again later)"
    for kind, answer in (("429", f"429 TOO_MANY_REQUESTS {said}"),
                         ("503", f"503 TEMPORARILY_UNAVAILABLE {said}")):
        emulator.set_faults(FaultPolicy(rate=1.0, kinds=(kind,), retry_after_s=0))
        backend = DatabricksBackend(host=emulator.url, profile=None, cluster_id=None)
        with pytest.raises(BackendError) as raised:
            backend.preflight()
        message = raised.value.message
        assert f"kept answering {answer}" in message and "for 0:00:02" in message
        assert "while trying to read the current user" in message
        assert "did not answer" not in message
        assert "rate-limiting (429) or unavailable (503)" in raised.value.hint
        assert "network" not in raised.value.hint


def test_server_errors_until_the_budget_runs_out_are_reported_with_the_servers_message(
        emulator, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    emulator.set_faults(FaultPolicy(rate=1.0, kinds=("502",)))
    clock = FakeClock()
    backend = DatabricksBackend(host=emulator.url, profile=None, cluster_id=None,
                                retry_policy=policy(clock, budget_s=10))
    with pytest.raises(BackendError) as raised:
        backend.preflight()
    assert "kept answering with server errors while trying to read the current user" in (
        raised.value.message)
    assert "BAD_GATEWAY (502 Bad Gateway)" in raised.value.message
    assert emulator.faults_injected == len(clock.slept) + 1 > 3
