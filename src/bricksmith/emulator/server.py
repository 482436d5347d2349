"""The HTTP side: parsing, routing, and what stands in front of every service.

For each request, in order: the configured latency; an injected fault (429 / 503 with
``Retry-After``, 500, a gateway's 502 / 504 page, or a dropped connection), decided before
anything is processed; the bearer token (401 ``UNAUTHENTICATED`` when it is missing; 403 with
the *numeric* ``error_code`` 403 and "Invalid access token." when it is wrong, as real
workspaces answer: databricks-sdk-go issues 795, 873, 917); the call is counted; forbidden
path prefixes (403 ``PERMISSION_DENIED``); the service. A ``drop_after`` route (runs/submit)
may then lose its answer, and any processed request may have its answer replaced with a 502 / 504
page (``error_after_rate``). Nothing about a request (headers, bodies, tokens) is ever logged.
"""

from __future__ import annotations

import email.parser
import email.policy
import hmac
import logging
import re
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bricksmith.emulator.faults import FaultInjector, FaultPolicy
from bricksmith.emulator.paths import workspace_path
from bricksmith.emulator.wire import ApiError, Request, Response, unsupported

LOG = logging.getLogger("bricksmith.emulator")
PATH_KEYS = ("path", "source_path", "destination_path", "path_prefix")
HOST_METADATA = "/.well-known/databricks-config"  # read by the SDK when a client is created
WORKSPACE_ID = "1234567890123456"

Handler = Callable[[Request], "Response | dict[str, Any]"]


class Router:
    """Routes ``(METHOD, pattern, handler[, "drop_after"])``; in patterns ``{name}`` matches
    one path segment and ``{name*}`` the rest of the path."""

    def __init__(self, routes: Iterable[tuple]) -> None:
        self._routes = []
        for method, pattern, handler, *flags in routes:
            regex = re.escape(pattern)
            regex = re.sub(r"\\\{(\w+)\\\*\\\}", r"(?P<\1>(?:/.*)?)", regex)
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
            self._routes.append((method, re.compile(f"^{regex}$"), handler, "drop_after" in flags))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str], bool]:
        for route_method, regex, handler, drop_after in self._routes:
            found = regex.match(path)
            if found and route_method == method:
                return handler, found.groupdict(), drop_after
        raise unsupported(f"{method} {path}")


class Gateway:
    """Auth, faults, latency, permissions and call counting around a :class:`Router`."""

    def __init__(
        self,
        router: Router,
        *,
        token: str | None,
        faults: FaultPolicy,
        forbidden: Iterable[str],
        user: str,
    ) -> None:
        self.router = router
        self.token = token
        self.user = user
        self.forbidden = [_comparable(p) for p in forbidden]
        self.injector = FaultInjector(faults)
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._faults = 0

    # -- observation -------------------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        with self._lock:
            return Counter(self._calls)

    @property
    def faults_injected(self) -> int:
        with self._lock:
            return self._faults

    def set_faults(self, policy: FaultPolicy) -> None:
        self.injector = FaultInjector(policy)

    def reset_counts(self) -> None:
        with self._lock:
            self._calls.clear()
            self._faults = 0

    def _fault(self) -> None:
        with self._lock:
            self._faults += 1

    # -- the pipeline ------------------------------------------------------------------------

    def handle(self, req: Request) -> Response | None:
        """The answer to ``req``, or None to drop the connection without one."""
        if req.method == "GET" and req.path == HOST_METADATA:  # public, never faulted
            return Response.of_json({"workspace_id": WORKSPACE_ID})
        injector = self.injector
        if injector.policy.latency_ms:
            time.sleep(injector.policy.latency_ms / 1000)
        fault = injector.before()
        if fault is not None:
            self._fault()
            return _fault_response(fault, injector.policy.retry_after_s)
        denied = self._authenticate(req)
        if denied is not None:
            return denied
        with self._lock:
            self._calls[f"{req.method} {req.path}"] += 1
        drop_after = False
        try:
            handler, req.params, drop_after = self.router.match(req.method, req.path)
            self._check_permissions(req)
            answer = handler(req)
            response = answer if isinstance(answer, Response) else Response.of_json(answer)
        except ApiError as exc:
            response = Response.of_json(exc.body(), exc.status)
        except Exception as exc:  # a bug in the emulator: say so, keep serving
            LOG.error("emulator error on %s %s\n%s", req.method, req.path, traceback.format_exc())
            response = Response.of_json(
                {"error_code": "INTERNAL_ERROR", "message": f"emulator error: {exc!r}"}, 500
            )
        drop_after = drop_after or f"{req.method} {req.path}" in injector.policy.drop_after_on
        if drop_after and response.status == 200 and injector.drop_after_submit():
            self._fault()
            return None
        if response.status < 300:
            lost = injector.error_after()
            if lost is not None:  # processed, but the gateway's answer is an error page
                self._fault()
                return _fault_response(lost, injector.policy.retry_after_s)
        return response

    def _authenticate(self, req: Request) -> Response | None:
        if self.token is None:
            return None
        given = req.headers.get("authorization", "")
        if not given:
            message = "Credential was not sent or was of an unsupported type for this API."
            return Response.of_json({"error_code": "UNAUTHENTICATED", "message": message}, 401)
        if hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return None
        return Response.of_json({"error_code": 403, "message": "Invalid access token."}, 403)

    def _check_permissions(self, req: Request) -> None:
        if not self.forbidden:
            return
        paths = [req.params["path"]] if req.params.get("path") else []
        try:
            values = {**req.query, **req.json()} if req.method not in ("GET", "HEAD") else req.query
        except ApiError:
            values = req.query
        paths += [str(values[k]) for k in PATH_KEYS if isinstance(values.get(k), str)]
        for path in paths:
            mine = _comparable(path)
            for prefix in self.forbidden:
                if mine == prefix or mine.startswith(prefix.rstrip("/") + "/"):
                    raise ApiError(
                        403,
                        "PERMISSION_DENIED",
                        f"User {self.user} does not have permission to access {path}.",
                    )


def _comparable(path: str) -> str:
    """A path with the prefixes that name the same thing removed (dbfs:, /Workspace)."""
    path = path[len("dbfs:") :] if path.startswith("dbfs:") else path
    try:
        return workspace_path(path)
    except ApiError:
        return path


GATEWAY_PAGES = {"502": "502 Bad Gateway", "504": "504 Gateway Time-out"}  # as nginx words them


def _fault_response(fault: str, retry_after: int) -> Response | None:
    if fault == "drop":
        return None
    if fault == "500":
        return Response.of_json(
            {"error_code": "INTERNAL_ERROR", "message": "injected fault: internal error"}, 500)
    if fault in GATEWAY_PAGES:  # a proxy's page, not the API's JSON; no Retry-After
        title = GATEWAY_PAGES[fault]
        page = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n")
        return Response(int(fault), page.encode(), {"Content-Type": "text/html"})
    status, code = (
        (429, "TOO_MANY_REQUESTS") if fault == "429" else (503, "TEMPORARILY_UNAVAILABLE")
    )
    response = Response.of_json(
        {"error_code": code, "message": "injected fault: please try again later"}, status
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


# -- HTTP ----------------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as the real API answers: a client reuses its connections
    (an idle one is closed after ``timeout`` seconds)."""

    server: EmulatorHTTPServer
    server_version = "bricksmith-emulator"
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(
            method=self.command,
            path=unquote(url.path),
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            form=_form(headers.get("content-type", ""), body),
        )
        response = self.server.gateway.handle(req)
        if response is None:  # a dropped connection: no answer at all
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if "Content-Length" not in response.headers:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        LOG.debug("%s %s", self.command, urlsplit(self.path).path)


def _form(content_type: str, body: bytes) -> dict[str, bytes] | None:
    """The fields of a multipart/form-data body (None for any other body)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True) or b""
    return fields


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, _RequestHandler)

    def handle_error(self, request, client_address) -> None:
        LOG.debug("connection from %s failed", client_address, exc_info=True)
