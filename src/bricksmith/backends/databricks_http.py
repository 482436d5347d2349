"""The databricks backend's HTTP layer: server errors (500, 502, 504) retried where that is safe.

What databricks-sdk 0.162 already retries (``_base_client.py`` ``_is_retryable``, ``retries.py``
``retried``), on every call, for ``retry_timeout_seconds`` before it raises ``TimeoutError``
from the last error: answers 429 and 503 (after ``Retry-After``, read as an integer, 1 s when
absent, plus up to 1 s of jitter), dropped connections and timeouts, and errors whose message
holds one of a few strings ("Unexpected error", "ClusterNotReadyException", ...). It does not
retry 500, 502 or 504: those are retried here, never 429/503 again.

Each call is looked at once, by method and path (``call_kind``):

- ``repeat``  safe to send again: reads; writes that land whole with ``overwrite`` (notebook
  import, DBFS put, Files API PUT); calls carrying an ``idempotency_token`` (jobs/runs/submit);
  updates to a given state (PATCH repos, git-credentials), mkdirs, cancel, DBFS delete.
- ``confirm`` not idempotent, but whether the first attempt took effect can be read before
  repeating it: a repo or git credential created, a DBFS move, a cluster start, a delete (its
  repeat answering 404 means the first one did it).
- ``once``    anything else (DBFS add-block and close of a streamed upload, a submit without a
  token): a server error is raised as :class:`ServerErrorUnconfirmed`.

Retries back off exponentially with jitter (:class:`RetryPolicy`) within a budget; when it runs
out, :class:`ServerErrorsPersisted` carries the server's last answer.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REPEAT, CONFIRM, ONCE = "repeat", "confirm", "once"
BUDGET_S = 60.0  # how long one call is retried after server errors
BASE_S = 0.5  # the first back-off; doubled per try, up to CAP_S
CAP_S = 8.0
GATEWAY_CODES = {"BAD_GATEWAY", "GATEWAY_TIMEOUT", "GATEWAY_TIME-OUT", "INTERNAL_SERVER_ERROR",
                 "SERVICE_UNAVAILABLE"}
GATEWAY_REASONS = {"bad gateway", "gateway timeout", "gateway time-out", "internal server error"}

_REPEATABLE = [  # (method, path pattern) that may always be sent again
    ("POST", r"/api/2\.0/workspace/mkdirs"),
    ("POST", r"/api/2\.0/dbfs/(mkdirs|delete)"),  # deleting a missing path succeeds
    ("POST", r"/api/2\.\d/jobs/runs/cancel"),  # cancelling a finished run does nothing
    ("PATCH", r"/api/2\.0/(repos|git-credentials)/\d+"),
    ("PUT", r"/api/2\.0/fs/directories/.*"),
]
_OVERWRITE = [  # repeatable when the call overwrites
    ("POST", r"/api/2\.0/workspace/import"),
    ("POST", r"/api/2\.0/dbfs/(put|create)"),  # create: a new handle, the old one expires
    ("PUT", r"/api/2\.0/fs/files/.*"),
]
_CONFIRMABLE = [
    ("POST", r"/api/2\.0/repos"),
    ("POST", r"/api/2\.0/git-credentials"),
    ("POST", r"/api/2\.0/dbfs/move"),
    ("POST", r"/api/2\.\d/clusters/start"),
    ("POST", r"/api/2\.0/workspace/delete"),
    ("DELETE", r"/api/2\.0/(repos|git-credentials)/\d+"),
    ("DELETE", r"/api/2\.0/fs/(files|directories)/.*"),
]


def _matches(rules: list[tuple[str, str]], method: str, path: str) -> bool:
    return any(method == m and re.fullmatch(p, path) for m, p in rules)


def call_kind(method: str, path: str, query: dict | None, body: dict | None) -> str:
    """``repeat``, ``confirm`` or ``once`` for a call (see the module's docstring)."""
    method, args = method.upper(), {**(query or {}), **(body or {})}
    if method in ("GET", "HEAD") or _matches(_REPEATABLE, method, path):
        return REPEAT
    if re.fullmatch(r"/api/2\.\d/jobs/runs/submit", path):
        return REPEAT if args.get("idempotency_token") else ONCE
    if _matches(_OVERWRITE, method, path):
        return REPEAT if str(args.get("overwrite")).lower() == "true" else ONCE
    if _matches(_CONFIRMABLE, method, path):
        return CONFIRM
    return ONCE


def server_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient server error the SDK did not retry: 500 (InternalError,
    not DataLoss), 504 (DeadlineExceeded), TEMPORARILY_UNAVAILABLE without Retry-After, or a
    gateway's 502/504 page (a plain DatabricksError naming the gateway)."""
    from databricks.sdk import errors as sdk

    if not isinstance(exc, sdk.DatabricksError) or isinstance(exc, sdk.DataLoss):
        return False
    if isinstance(exc, (sdk.InternalError, sdk.DeadlineExceeded, sdk.TemporarilyUnavailable)):
        return True
    code = str(exc.error_code or "").upper()
    text = str(exc).strip().lower()
    return code in GATEWAY_CODES or any(reason in text for reason in GATEWAY_REASONS)


def describe_answer(exc: BaseException) -> str:
    """``429 TOO_MANY_REQUESTS (please try again later)``: an SDK error as the server put it
    (the status where the error's class tells it, the error code, the message)."""
    from databricks.sdk import errors as sdk

    classes = ((sdk.TooManyRequests, "429"), (sdk.TemporarilyUnavailable, "503"),
               (sdk.DeadlineExceeded, "504"), (sdk.InternalError, "500"))
    status = next((code for cls, code in classes if isinstance(exc, cls)), "")
    code = getattr(exc, "error_code", None) or ""
    head = " ".join(str(part) for part in (status, code) if part)
    return f"{head} ({exc})" if head else str(exc) or type(exc).__name__


class ServerErrorsPersisted(Exception):
    """A call answered with server errors until the retry budget ran out."""

    def __init__(self, last: BaseException, tries: int, seconds: float) -> None:
        super().__init__(f"{describe_answer(last)}, {tries} tries in {seconds:.0f} s")
        self.last, self.tries, self.seconds = last, tries, seconds


class ServerErrorUnconfirmed(Exception):
    """A call that cannot be repeated safely got a server error: whether it took effect is
    not known."""

    def __init__(self, last: BaseException, call: str) -> None:
        super().__init__(f"{describe_answer(last)}; whether {call} took effect is not known")
        self.last, self.call = last, call


@dataclass
class RetryPolicy:
    """Exponential back-off with jitter within a budget. ``clock`` (seconds, monotonic),
    ``sleep`` and ``random`` (0..1) are injectable for tests."""

    budget_s: float = BUDGET_S
    base_s: float = BASE_S
    cap_s: float = CAP_S
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` >= 1): half of the
        exponential step, plus up to the other half at random."""
        step = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return step / 2 + self.random() * step / 2

    def run(self, send: Callable[[], Any], *, retryable: Callable[[BaseException], bool]) -> Any:
        """``send()`` until it succeeds, raises what ``retryable`` refuses, or the budget is
        spent (then :class:`ServerErrorsPersisted`, from the last error)."""
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except Exception as exc:
                if not retryable(exc):
                    raise
                wait = self.delay(attempt)
                spent = self.clock() - started
                if spent + wait > self.budget_s:
                    raise ServerErrorsPersisted(exc, attempt, spent) from exc
                self.sleep(wait)


def install(api_client: Any, policy: RetryPolicy | None = None) -> None:
    """Wrap ``api_client.do`` (databricks-sdk's ``ApiClient``, shared by every service of one
    ``WorkspaceClient``) so that server errors are retried as this module says."""
    if getattr(api_client, "_bricksmith_retries", False):
        return
    send = api_client.do
    retries = policy or RetryPolicy()

    def do(method: str, path: str | None = None, url: str | None = None, query=None,
           headers=None, body=None, raw: bool = False, files=None, data=None, auth=None,
           response_headers=None):
        def once():
            return send(method, path, url=url, query=query, headers=headers, body=body,
                        raw=raw, files=files, data=data, auth=auth,
                        response_headers=response_headers)

        kind = call_kind(method, path or "", query, body)
        rewind = _rewinder(data, files)
        if rewind is None:
            kind = ONCE
        if kind == ONCE:
            try:
                return once()
            except Exception as exc:
                if server_error(exc):
                    raise ServerErrorUnconfirmed(exc, f"{method} {path or url}") from exc
                raise
        failed = []  # a try got a server error: a confirmable call is read back first

        def attempt():
            if failed and kind == CONFIRM:
                answer = _confirm(send, method, path, query, body)
                if answer is not None:
                    return answer
            rewind()
            return once()

        def retryable(exc: BaseException) -> bool:
            if server_error(exc):
                failed.append(exc)
                return True
            return False

        try:
            return retries.run(attempt, retryable=retryable)
        except Exception as exc:
            from databricks.sdk import errors as sdk

            # a delete repeated after a server error, answered 404: the first one did it
            if (failed and kind == CONFIRM and isinstance(exc, sdk.NotFound)
                    and (method == "DELETE" or path.endswith("/delete"))):
                return {}
            raise

    api_client.do = do
    api_client._bricksmith_retries = True


def _rewinder(data: Any, files: Any = None) -> Callable[[], None] | None:
    """How to put the request's body streams (``data``, the file objects of a multipart
    ``files``) back to their start before a repeat; None when one cannot be."""
    streams = [] if data is None or isinstance(data, (str, bytes)) else [data]
    for value in (files.values() if isinstance(files, dict) else files or ()):
        part = value[1] if isinstance(value, tuple) and len(value) > 1 else value
        if not isinstance(part, (str, bytes)):
            streams.append(part)
    starts = []
    for stream in streams:
        try:
            if not stream.seekable():
                return None
            starts.append((stream, stream.tell()))
        except (AttributeError, OSError):
            return None

    def rewind() -> None:
        for stream, start in starts:
            stream.seek(start)

    return rewind


def _confirm(send: Callable[..., Any], method: str, path: str, query, body) -> Any:
    """The answer of a call whose first attempt got a server error, when reading the workspace
    shows that attempt took effect; None when it did not (the call is sent again)."""
    from databricks.sdk import errors as sdk

    args = {**(query or {}), **(body or {})}
    try:
        if path == "/api/2.0/repos" and args.get("path"):
            status = send("GET", "/api/2.0/workspace/get-status", query={"path": args["path"]})
            repo_id = status.get("resource_id") or status.get("object_id")
            if status.get("object_type") == "REPO" and repo_id:
                return send("GET", f"/api/2.0/repos/{repo_id}")
        elif path == "/api/2.0/git-credentials":
            # bricksmith creates a credential only when the user has none (else it updates)
            listed = send("GET", "/api/2.0/git-credentials").get("credentials") or []
            wanted = str(args.get("git_provider", "")).lower()
            for credential in listed:
                if str(credential.get("git_provider", "")).lower() == wanted:
                    return credential
        elif path == "/api/2.0/dbfs/move" and args.get("source_path"):
            try:
                send("GET", "/api/2.0/dbfs/get-status", query={"path": args["source_path"]})
            except sdk.NotFound:
                send("GET", "/api/2.0/dbfs/get-status",
                     query={"path": args.get("destination_path")})
                return {}  # the source is gone and the destination is there: moved
        elif path.endswith("/clusters/start") and args.get("cluster_id"):
            cluster = send("GET", path.replace("/start", "/get"),
                           query={"cluster_id": args["cluster_id"]})
            if cluster.get("state") not in ("TERMINATED", "TERMINATING", None):
                return {}
    except sdk.NotFound:
        return None
    return None
