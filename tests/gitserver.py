"""A loopback git server speaking git's smart-HTTP protocol, behind HTTP basic auth.

It stands in for GitHub over HTTPS: plain ``http://127.0.0.1:<port>`` replaces TLS (git sends
credentials the same way over both; only the transport differs), and ``git http-backend`` (git's
own CGI program) does the protocol work, so clients talk to a real smart-HTTP server.

Every request must carry ``Authorization: Basic`` with the configured token as password (and the
configured user, when one is set; like GitHub, any non-empty user name is accepted otherwise).
Without valid credentials the answer is ``401`` with ``WWW-Authenticate: Basic realm=...``,
which is what makes git ask its credential helper / askpass for them.

Each request is recorded (method, path, service, the user name presented, whether auth was
present and valid, the status). The token is never recorded or logged.

    with GitServer(tmp_path / "srv", token="t0ken") as server:
        url = server.create_repo("project.git")   # http://127.0.0.1:PORT/project.git
        ...
        assert server.saw_authorized("git-receive-pack")
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REALM = "bricksmith test git server"


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # the path only: the query string and the headers are not kept
    service: str | None  # git-upload-pack (fetch/clone/ls-remote) or git-receive-pack (push)
    auth_present: bool
    authorized: bool
    user: str | None  # the user name presented with basic auth (never the password)
    status: int


class GitServer:
    """Serves the bare repositories under ``root`` over smart HTTP on 127.0.0.1 (a free port)."""

    def __init__(self, root: Path, *, token: str, user: str | None = None) -> None:
        if not token:
            raise ValueError("the server needs a token to require")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._token = token
        self.user = user
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._backend = _http_backend()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> GitServer:
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="gitserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GitServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- repositories ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, name: str) -> str:
        return f"{self.url}/{name}"

    def create_repo(self, name: str, *, branch: str = "main") -> str:
        """An empty bare repository ``name`` (e.g. ``project.git``) that accepts pushes."""
        path = self.root / name
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={branch}", str(path)],
            check=True,
        )
        subprocess.run(
            ["git", "--git-dir", str(path), "config", "http.receivepack", "true"], check=True
        )
        return self.url_for(name)

    # -- what the server saw ---------------------------------------------------------------

    def seen(self) -> list[SeenRequest]:
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def saw_authorized(self, service: str | None = None) -> bool:
        return any(r.authorized and (service is None or r.service == service) for r in self.seen())

    def _record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _check(self, header: str | None) -> tuple[bool, bool, str | None]:
        """(auth present, valid, user name) of an Authorization header."""
        if not header:
            return False, False, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return True, False, None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return True, False, None
        user, sep, password = decoded.partition(":")
        valid = bool(sep and user and password == self._token)
        if self.user is not None and user != self.user:
            valid = False
        return True, valid, user or None


def _http_backend() -> str:
    exec_path = subprocess.run(
        ["git", "--exec-path"], check=True, capture_output=True, text=True
    ).stdout.strip()
    backend = Path(exec_path) / "git-http-backend"
    if not backend.is_file():
        raise RuntimeError(f"git http-backend not found in {exec_path}")
    return str(backend)


class _Handler(BaseHTTPRequestHandler):
    server_ref: GitServer  # set on the subclass made per server
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep stderr quiet
        pass

    def _serve(self) -> None:
        server = self.server_ref
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        service = query.get("service", [None])[0] or _service_of(split.path)
        present, valid, user = server._check(self.headers.get("Authorization"))
        body = self._read_body()
        if not valid:
            self._record(split.path, service, present, valid, user, 401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Basic realm="{REALM}"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "13")
            self.end_headers()
            self.wfile.write(b"Unauthorized\n")
            return
        status, headers, payload = self._run_backend(split.path, split.query, user or "", body)
        self._record(split.path, service, present, valid, user, status)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self, path, service, present, valid, user, status) -> None:
        self.server_ref._record(
            SeenRequest(self.command, path, service, present, valid, user, status)
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _run_backend(
        self, path: str, query: str, user: str, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        server = self.server_ref
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(server.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(
            [server._backend], input=body, capture_output=True, env=env, timeout=120
        )
        head, sep, payload = done.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = done.stdout.partition(b"\n\n")
        if not sep:
            message = done.stderr.decode(errors="replace") or "no output from git http-backend"
            return 500, [("Content-Type", "text/plain")], message.encode()
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        return status, headers, payload


def _service_of(path: str) -> str | None:
    for service in ("git-upload-pack", "git-receive-pack"):
        if path.endswith("/" + service):
            return service
    return None
