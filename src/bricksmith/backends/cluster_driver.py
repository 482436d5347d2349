"""The local cluster's driver: a Python that outlives one apply, with Kedro and the project's
libraries imported, forking one clean notebook kernel per run.

Usage (started detached by ``local_cluster``, with a run environment's Python):
    python cluster_driver.py --folder DIR --address NAME --requirements-key KEY --idle SECONDS

A standalone script like ``notebook_kernel.py`` (loaded by path from beside this file): it
needs only the standard library and never imports bricksmith.

- It listens on the Linux abstract socket ``NAME`` and serves only its own user (the peer's
  uid, ``SO_PEERCRED``). A run request carries the run's whole environment (the apply's, as a
  per-run kernel would get it): secrets travel over the socket, never on a command line or in
  a file.
- It imports Kedro, IPython and (learnt from the runs: every library module a run imported from
  the environment) the project's libraries *once*. It never imports the project's own modules,
  never creates an IPython shell and never starts a Kedro session: each run is a ``fork`` of it
  that does all of that itself, in a fresh process, so each run starts from a clean session
  with the params and the project modules of its own commit.
- Per run: fork; the child starts a session of its own (stopped as a group, like a detached
  kernel), writes nothing until the requester has checkpointed its pid and answered ``go``
  (a requester that goes away first gets no run: a killed apply never runs a notebook twice),
  then takes the run's working directory, environment and log file (stdout and stderr) and runs
  ``notebook_kernel.main``. The driver writes ``kernel.json`` (pid and start time) beside the
  run's result file, so a later apply finds the run by its result file, and answers
  ``{"exit": code}`` when the child ends.
- It stops itself after ``--idle`` seconds without a run, when told to (``{"stop": true}``: it
  first lets its running kernels finish), on SIGTERM, or when its folder is gone.

Protocol: one JSON object per line. ``{"run": {"argv": [...], "env": {...}, "cwd": DIR,
"log": FILE}}`` -> ``{"pid": P, "start": S}``, then ``{"go": true}`` -> ... ``{"exit": N}``;
``{"stop": true}`` -> ``{"stopping": true}``; ``{"ping": true}`` -> ``{"pid": P, ...}``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import importlib.util
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time

_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if not p or os.path.realpath(p) != _HERE]

# Imported once by the driver; what runs import beyond them is learnt (see _learn).
WARM = ("IPython.core.interactiveshell", "traitlets.config", "kedro", "kedro.ipython",
        "kedro.framework.session", "kedro.framework.startup", "kedro.framework.project",
        "kedro.io", "kedro.pipeline", "kedro.runner", "kedro.config")
LEARNT = "learnt-modules.json"
_MAX_LINE = 4 * 1024 * 1024


def load_kernel_module():
    """``notebook_kernel.py`` beside this file, loaded by path (bricksmith is not installed)."""
    spec = importlib.util.spec_from_file_location(
        "_bricksmith_notebook_kernel", os.path.join(_HERE, "notebook_kernel.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _environment_prefixes() -> tuple[str, ...]:
    return tuple({os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix)})


def library_modules(names, prefixes: tuple[str, ...]) -> list[str]:
    """The modules among ``names`` whose file lies in the environment (its packages or the
    standard library): never the project's own, which each run imports afresh."""
    found = []
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if name == "__main__" or name.startswith("_bricksmith") or not isinstance(path, str):
            continue
        if os.path.realpath(path).startswith(prefixes):
            found.append(name)
    return sorted(found)


def warm(names) -> None:
    """Import ``names`` (a failure leaves that module to the runs)."""
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - any import failure: the run imports it
            if isinstance(exc, KeyboardInterrupt):
                raise
            print(f"[driver] not preloaded: {name}: {type(exc).__name__}", flush=True)


class Driver:
    def __init__(self, folder: str, address: str, key: str, idle: float) -> None:
        self.folder, self.address, self.key, self.idle = folder, address, key, idle
        self.kernel = load_kernel_module()  # sets COLUMNS & co. before Kedro's logging exists
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, socket.socket | None] = {}  # pid -> its requester
        self.waiting: dict[socket.socket, tuple[int, int]] = {}  # requester -> (pid, go fd)
        self.buffers: dict[socket.socket, bytes] = {}
        self.stopping = False
        self.last_active = time.monotonic()
        self.prefixes = _environment_prefixes()
        self.learnt_path = os.path.join(folder, LEARNT)

    # -- set-up -------------------------------------------------------------------------

    def listen(self) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind("\0" + self.address)
        self.server.listen(16)
        self.server.setblocking(False)
        self.selector.register(self.server, selectors.EVENT_READ, "accept")
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._terminate)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")

    def _terminate(self, *_):
        self.stopping = True
        for pid in list(self.children):
            _signal_group(pid, signal.SIGTERM)

    def preload(self) -> None:
        warm(WARM)
        try:
            with open(self.learnt_path, encoding="utf-8") as handle:
                warm(json.load(handle))
        except (OSError, ValueError, TypeError):
            pass
        self.last_active = time.monotonic()  # idle from now on, not from the start

    # -- the loop -----------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            self._reap()
            if self.stopping and not self.children:
                return
            if not self.children and not self.waiting and not self.buffers:
                if time.monotonic() - self.last_active >= self.idle and not self._knocking():
                    print(f"[driver] idle for {self.idle:g} s: stopping", flush=True)
                    return
                if not os.path.isdir(self.folder):
                    return
            for key, _ in self.selector.select(timeout=min(1.0, max(self.idle, 0.05))):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    try:
                        while self.wake_r.recv(512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    self._read(key.fileobj)

    def _knocking(self) -> bool:
        """Whether a requester waits to be accepted (then the driver is not idle)."""
        return bool(select.select([self.server], [], [], 0)[0])

    def _accept(self) -> None:
        try:
            conn, _ = self.server.accept()
        except BlockingIOError:
            return
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            conn.close()  # another user: not served
            return
        conn.setblocking(False)
        self.buffers[conn] = b""
        self.selector.register(conn, selectors.EVENT_READ, "conn")

    def _read(self, conn: socket.socket) -> None:
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._gone(conn)
            return
        data = self.buffers.get(conn, b"") + chunk
        while b"\n" in data:
            line, data = data.split(b"\n", 1)
            self._handle(conn, line)
        if len(data) > _MAX_LINE:
            self._gone(conn)
            return
        if conn in self.buffers:
            self.buffers[conn] = data

    def _send(self, conn: socket.socket | None, message: dict) -> None:
        if conn is None:
            return
        try:
            conn.setblocking(True)
            conn.sendall((json.dumps(message) + "\n").encode())
            conn.setblocking(False)
        except OSError:
            pass

    def _handle(self, conn: socket.socket, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self._gone(conn)
            return
        self.last_active = time.monotonic()
        if message.get("ping"):
            self._send(conn, {"pid": os.getpid(), "key": self.key, "running": len(self.children)})
        elif message.get("stop"):
            self.stopping = True
            self._send(conn, {"stopping": True})
        elif isinstance(message.get("run"), dict) and not self.stopping:
            self._fork(conn, message["run"])
        elif message.get("go") and conn in self.waiting:
            pid, go = self.waiting.pop(conn)
            with _quiet():  # a kernel stopped meanwhile: its end is reported as usual
                os.write(go, b"g")
            os.close(go)
            self.children[pid] = conn
        else:
            self._send(conn, {"refused": "stopping" if self.stopping else "unknown request"})

    def _gone(self, conn: socket.socket) -> None:
        """The requester went away: a kernel not yet told to go never runs."""
        self.buffers.pop(conn, None)
        with _quiet():
            self.selector.unregister(conn)
        if conn in self.waiting:
            pid, go = self.waiting.pop(conn)
            os.close(go)  # the child reads end-of-file and leaves without running anything
            self.children[pid] = None
        for pid, owner in self.children.items():
            if owner is conn:
                self.children[pid] = None
        conn.close()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            self.last_active = time.monotonic()
            self._send(conn, {"exit": os.waitstatus_to_exitcode(status)})
            self._learn(pid)

    def _learn(self, pid: int) -> None:
        """Import what the run ``pid`` imported from the environment, for the next runs."""
        path = os.path.join(self.folder, f"modules-{pid}.json")
        try:
            with open(path, encoding="utf-8") as handle:
                names = [n for n in json.load(handle) if isinstance(n, str)]
            os.unlink(path)
        except (OSError, ValueError, TypeError):
            return
        new = [n for n in names if n not in sys.modules]
        if not new:
            return
        warm(new)
        known = library_modules(sys.modules, self.prefixes)
        _write_json(self.learnt_path, known)

    # -- a run ----------------------------------------------------------------------------

    def _fork(self, conn: socket.socket, run: dict) -> None:
        try:
            result = run["argv"][run["argv"].index("--result") + 1]
            folder = os.path.dirname(result)
            if not os.path.isdir(folder) or not isinstance(run.get("env"), dict):
                raise ValueError(folder)
        except (KeyError, ValueError, IndexError, TypeError, AttributeError):
            self._send(conn, {"refused": "a run request needs --result in an existing folder"})
            return
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the run's kernel
            os.close(go_w)
            code = 70
            try:
                code = self._child(go_r, run)
            finally:
                os._exit(code)
        os.close(go_r)
        start = _start_time(pid)
        self.waiting[conn] = (pid, go_w)
        try:
            _write_json(os.path.join(folder, "kernel.json"),
                        {"pid": pid, "start": start, "driver": os.getpid()})
        except OSError:  # not findable by its result file: it must not run
            self._gone(conn)
            return
        self._send(conn, {"pid": pid, "start": start, "driver": os.getpid()})

    def _child(self, go_r: int, run: dict) -> int:
        os.setsid()  # a group of its own: stopped as one, like a detached kernel
        for number in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        self.selector.close()
        for sock in (self.server, self.wake_r, self.wake_w, *self.buffers):
            sock.close()
        with os.fdopen(go_r, "rb") as go:
            if go.read(1) != b"g":
                return 75  # the requester went away before it recorded this run: no run
        before = set(sys.modules)
        atexit._clear()  # the driver's exit handlers are not the run's (run at its end)
        log = os.open(run["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.chdir(run["cwd"])
        os.environ.clear()
        os.environ.update(run["env"])
        import tempfile

        tempfile.tempdir = None  # TMPDIR is the run's now
        sys.argv = [os.path.join(_HERE, "notebook_kernel.py"), *run["argv"]]
        try:
            code = self.kernel.main(run["argv"])
        finally:
            with contextlib.suppress(Exception):  # the run's exit handlers: Spark's, ...
                atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        imported = library_modules(set(sys.modules) - before, self.prefixes)
        with _quiet():
            _write_json(os.path.join(self.folder, f"modules-{os.getpid()}.json"), imported)
        return code


def _quiet():
    return contextlib.suppress(OSError, KeyError, ValueError)


def _signal_group(pid: int, number: int) -> None:
    with _quiet():
        os.killpg(pid, number)


def _write_json(path: str, value) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(value, handle)
    os.replace(tmp, path)


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        return int(text[text.rfind(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--requirements-key", required=True)
    parser.add_argument("--idle", type=float, required=True)
    parser.add_argument("--env", default="", help="a fingerprint of the environment variables")
    args = parser.parse_args(argv)
    driver = Driver(args.folder, args.address, args.requirements_key, args.idle)
    try:
        driver.listen()
    except OSError as exc:  # another driver has the address
        print(f"[driver] cannot listen: {exc}", flush=True)
        return 3
    state = os.path.join(args.folder, "driver.json")
    _write_json(state, {"pid": os.getpid(), "start": _start_time(os.getpid()),
                        "address": args.address, "key": args.requirements_key,
                        "python": sys.executable, "idle_s": args.idle, "env": args.env})
    print(f"[driver] pid {os.getpid()} listening; idle timeout {args.idle:g} s", flush=True)
    try:
        driver.preload()
        driver.serve()
    finally:
        with _quiet(), open(state, encoding="utf-8") as handle:
            if json.load(handle).get("pid") == os.getpid():
                os.unlink(state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
