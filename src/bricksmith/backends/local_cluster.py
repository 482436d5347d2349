"""The local cluster kept between applies: like an interactive cluster that stays up with its
libraries installed and terminates itself when idle.

A cluster is one driver process (``cluster_driver.py``, run by the run environment's Python)
per target root and requirement set: ``<root>/cluster/.driver-<key[:16]>/`` holds its record
(``driver.json``), its log and what it learnt to preload. It imports Kedro and the project's
libraries once and forks a clean kernel per run (the driver's docstring says how each run
stays clean: a fresh process, its own session, params, project modules and log). So a
re-run skips the new interpreter, IPython's and Kedro's imports.

- A changed requirement set (``requirements_closure``'s key) means another driver: the one of
  the old set is told to stop (after its running kernels end).
- It stops itself after ``idle_s`` seconds without a run (the target's
  ``cluster_idle_minutes``); :func:`stop_drivers` (``destroy``) stops it at once.
- A kernel it forks is checkpointed (pid and start time) *before* it may start: an apply killed
  before that gets no run, one killed after it re-attaches (``kernels.find_kernel``). A run
  never executes twice.
- Linux only (abstract sockets, ``/proc``, ``fork``); elsewhere, and whenever the driver cannot
  be had, the run starts its own Python as before (``local_runner.run_notebook``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bricksmith.backends.kernels import KernelProcess, detached, stop_group, wait_for
from bricksmith.backends.local_runner import (
    NotebookResult,
    _finished,
    _kernel_env,
    _timed_out,
)
from bricksmith.backends.local_runner import run_notebook as run_in_new_kernel
from bricksmith.backends.logtail import LogFollower
from bricksmith.backends.run_sandbox import RunSandbox
from bricksmith.made import Made

DRIVER = Path(__file__).with_name("cluster_driver.py")
PREFIX = ".driver-"
START_TIMEOUT_S = 60.0  # the driver listens before it imports anything: this is generous
REPLY_TIMEOUT_S = 300.0  # a first run waits while the driver imports Kedro and the libraries
# What the driver process itself keeps of the apply's environment (a run gets the apply's
# whole environment over the socket): nothing secret lives on in a process that outlasts it.
DRIVER_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "SHELL", "TERM",
              "JAVA_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "COLUMNS")
KERNEL_SETTINGS = ("DO_NOT_TRACK", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "IPYTHONDIR",
                   "PIP_NO_INPUT")


def supported() -> bool:
    """Whether a driver can run here (Linux: abstract sockets, fork, /proc)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _driver_env(python: Path, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in _kernel_env(python, folder).items()
           if k in DRIVER_ENV or k.startswith(("LC_", "KEDRO_")) or k in KERNEL_SETTINGS}
    env["TMPDIR"] = str(folder / "tmp")
    return env


def _env_fingerprint(env: dict[str, str]) -> str:
    """What the driver's own imports may have read, and the code it runs (this bricksmith's
    driver and kernel scripts): a change of either means a new driver."""
    shown = {k: v for k, v in env.items() if k not in ("TMPDIR", "IPYTHONDIR")}
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True).encode())
    for script in (DRIVER, DRIVER.with_name("notebook_kernel.py"),
                   DRIVER.with_name("requirements_closure.py")):
        digest.update(script.read_bytes())
    return digest.hexdigest()[:16]


class LocalCluster:
    """The driver of the requirement set ``key`` (environment ``python``) under ``root``."""

    def __init__(self, root: Path, python: Path, key: str, idle_s: float) -> None:
        self.root = Path(root).resolve()
        self.python, self.key, self.idle_s = Path(python), key, float(idle_s)
        self.folder = self.root / "cluster" / f"{PREFIX}{key[:16]}"
        self.driver_pid: int | None = None  # the driver that forked this object's last run
        self.env = _driver_env(self.python, self.folder)
        self.tag = _env_fingerprint(self.env)
        digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:24]
        # one address per folder and tag: a driver of other code or variables, stopping once
        # its kernels end, does not keep the new one from listening
        self.address = f"bricksmith-cluster-{os.getuid()}-{digest}-{self.tag}"

    # -- the driver ------------------------------------------------------------------------

    def driver(self) -> KernelProcess | None:
        """The live driver of this folder, or None."""
        return _live_driver(self.folder)

    def connect(self, timeout: float = 5.0) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect("\0" + self.address)
        except OSError:
            sock.close()
            return None
        return sock

    def ensure(self, log: Callable[[str], None] = lambda m: None) -> bool:
        """Have the driver running (start it when there is none); False when it cannot be."""
        from filelock import FileLock

        made = Made(self.root)
        made.folder(self.folder)
        with FileLock(str(self.folder / "start.lock")):
            driver = self.driver()
            if driver is not None and self._record().get("env") != self.tag:
                log("the local cluster's environment variables or bricksmith changed: "
                    "starting another (the old one stops once its kernels end)")
                _ask_to_stop(self.folder)
                driver = None
            if driver is not None:
                return True
            started = self._start(self.env)
            if started:
                log(f"started the local cluster (pid {started}; it stops after "
                    f"{self.idle_s / 60:g} idle minute(s), or on destroy)")
        for other in stop_drivers(self.root, keep=self.folder, wait=False):
            log(f"stopping the local cluster of the previous requirement set (pid {other})")
        return started is not None

    def _record(self) -> dict:
        try:
            return json.loads((self.folder / "driver.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _start(self, env: dict[str, str]) -> int | None:
        (self.folder / "tmp").mkdir(exist_ok=True)
        log_path = self.folder / "driver.log"
        with open(log_path, "a", encoding="utf-8") as log:
            try:
                process = subprocess.Popen(
                    [str(self.python), str(DRIVER), "--folder", str(self.folder), "--address",
                     self.address, "--requirements-key", self.key, "--idle", f"{self.idle_s:g}",
                     "--env", self.tag],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.folder, env=env, **detached())
            except OSError:
                return None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if self._record().get("pid") == process.pid:
                return process.pid
            time.sleep(0.02)
        if process.poll() is None:
            stop_group(KernelProcess.of(process.pid), process)
        return None

    # -- a run -----------------------------------------------------------------------------

    def run_notebook(
        self,
        notebook: Path,
        *,
        python: Path,
        widgets: dict[str, str],
        requirements_key: str,
        log_path: Path,
        workdir: Path,
        timeout: float | None = None,
        on_start: Callable[[int], None] | None = None,
        sandbox: RunSandbox | None = None,
        on_line: Callable[[str], None] | None = None,
        log: Callable[[str], None] = lambda m: None,
    ) -> NotebookResult:
        """``local_runner.run_notebook`` on this cluster: the same arguments and result; in a
        new kernel of its own when the driver cannot be had (before any kernel was forked)."""
        same = dict(python=python, widgets=widgets, requirements_key=requirements_key,
                    log_path=log_path, workdir=workdir, timeout=timeout, on_start=on_start,
                    sandbox=sandbox, on_line=on_line)
        if sandbox is None or not supported() or not self.ensure(log):
            return run_in_new_kernel(notebook, **same)
        sock = self.connect()
        if sock is None and (driver := self.driver()) is not None:
            wait_for(driver, time.monotonic() + 10.0)  # it was stopping (idle): start anew
            sock = self.connect() if self.ensure(log) else None
        if sock is None:
            log("the local cluster did not answer: this run starts a Python of its own")
            return run_in_new_kernel(notebook, **same)
        with sock:
            return self._run(sock, Path(notebook), widgets, Path(log_path), Path(workdir),
                             timeout, on_start, sandbox, on_line) or \
                run_in_new_kernel(notebook, **same)

    def _run(self, sock, notebook, widgets, log_path, workdir, timeout, on_start, sandbox,
             on_line) -> NotebookResult | None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        workdir.mkdir(parents=True, exist_ok=True)
        extra_env = sandbox.prepare(self.python)
        widgets_path = sandbox.work / "widgets.json"  # only this user reads it
        fd = os.open(widgets_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(widgets, handle, ensure_ascii=False)
        argv = ["--notebook", str(notebook.resolve()), "--widgets-file", str(widgets_path),
                "--result", str(sandbox.result_file), "--requirements-key", self.key]
        env = {**_kernel_env(self.python, sandbox.work), **extra_env}
        reader = _Lines(sock)
        start = time.monotonic()
        offset = log_path.stat().st_size if log_path.exists() else 0
        try:
            sock.settimeout(REPLY_TIMEOUT_S)
            sock.sendall((json.dumps({"run": {"argv": argv, "env": env, "cwd": str(workdir),
                                              "log": str(log_path)}}) + "\n").encode())
            reply = reader.next()
        except OSError:
            return None  # no kernel was forked for this run, or it never gets to go
        if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
            return None
        kernel = KernelProcess(reply["pid"], reply.get("start"))
        self.driver_pid = reply.get("driver")
        try:
            if on_start is not None:
                on_start(kernel.pid)  # checkpointed before the kernel may start
            sock.sendall(b'{"go": true}\n')
            follower = LogFollower(log_path, on_line, offset=offset) if on_line else None
            with follower if follower is not None else contextlib.nullcontext():
                code = self._wait(reader, kernel, timeout, start)
        except TimeoutError:
            stop_group(kernel)
            raise _timed_out(log_path, timeout) from None
        except BaseException:  # interrupted: leave no orphan behind
            stop_group(kernel)
            raise
        how = f"exit status {code}" if code is not None else "cluster kernel"
        return _finished(sandbox.result_file, log_path, time.monotonic() - start, sandbox, how)

    def _wait(self, reader, kernel: KernelProcess, timeout: float | None, start: float):
        deadline = None if timeout is None else start + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            reader.sock.settimeout(left)
            try:
                message = reader.next()
            except TimeoutError:
                raise
            except OSError:
                message = None
            if message is None:  # the driver went away: wait for the kernel itself
                if not wait_for(kernel, deadline):
                    raise TimeoutError
                return None
            if isinstance(message, dict) and "exit" in message:
                return message["exit"]


class _Lines:
    """JSON lines read from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def next(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None


def _live_driver(folder: Path) -> KernelProcess | None:
    try:
        record = json.loads((folder / "driver.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return None
    driver = KernelProcess(record["pid"], record.get("start"))
    if not driver.alive():
        return None
    try:
        cmdline = Path(f"/proc/{driver.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return driver if any(arg.endswith(DRIVER.name.encode()) for arg in cmdline) else None


def drivers(root: Path) -> list[tuple[Path, KernelProcess]]:
    """(folder, driver) of every local cluster running under the target root ``root``."""
    base = Path(root) / "cluster"
    if not base.is_dir():
        return []
    found = []
    for folder in sorted(base.glob(PREFIX + "*")):
        driver = _live_driver(folder)
        if driver is not None:
            found.append((folder, driver))
    return found


def stop_drivers(root: Path, *, keep: Path | None = None, wait: bool = True) -> list[int]:
    """Stop the local clusters under ``root`` (but the one in ``keep``). ``wait``: at once
    (SIGTERM: the driver stops its kernels; SIGKILL after a grace period), and wait until they
    are gone; else ask each to stop once its running kernels end. Returns their pids."""
    stopped = []
    for folder, driver in drivers(root):
        if keep is not None and folder.resolve() == Path(keep).resolve():
            continue
        if wait or not _ask_to_stop(folder):
            stop_group(driver)
        stopped.append(driver.pid)
    return stopped


def _ask_to_stop(folder: Path) -> bool:
    try:
        record = json.loads((folder / "driver.json").read_text(encoding="utf-8"))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5.0)
            sock.connect("\0" + record["address"])
            sock.sendall(b'{"stop": true}\n')
            return _Lines(sock).next() is not None
    except (OSError, ValueError, KeyError, TypeError):
        return False


