"""Notebook kernels as processes: how long they live, how a later apply finds them again.

**Lifetime (the one place this is decided).** A kernel is started *detached*: in a session
and process group of its own (:func:`detached`), so a SIGKILL of the apply, or of the apply's
whole process group (``kill -9 -- -PGID``, a terminal closing), does not take it. Such a kernel
is an in-flight run, like a Databricks job run whose submitter died: its pid, the process's
start time and its result file are checkpointed the moment it starts, and the next apply of
the same run re-attaches to it (waits for it, or adopts the result it wrote) instead of running
the notebook a second time. Only an interruption bricksmith sees (Ctrl-C raising
KeyboardInterrupt in the waiting thread, a timeout, a run whose inputs changed) stops a kernel,
and then the whole group at once (:func:`stop_group`).

A kernel is identified by pid *and* start time (``/proc/<pid>/stat``, field 22, clock ticks
since boot), so a pid reused by another process is never waited on or signalled; a kernel whose
pid was not checkpointed yet (the apply died right after starting it) is found by its result
file on its command line, or (a kernel the local cluster forked, whose command line is its
driver's: ``local_cluster``) by the ``kernel.json`` its driver wrote beside that result file
before the kernel could start. Linux only (``/proc``); elsewhere a kernel is never found again and
the run is repeated, as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KERNEL = Path(__file__).with_name("notebook_kernel.py")
FORKED = "kernel.json"  # beside a result file: the local cluster's kernel writing it
KILL_GRACE_S = 5.0
POLL_S = 0.2


def detached() -> dict[str, Any]:
    """The ``subprocess.Popen`` keyword arguments every notebook kernel is started with: a new
    session (own process group, no controlling terminal), so neither a kill of the apply's
    process group nor a terminal's SIGINT/SIGHUP reaches it. bricksmith stops it itself."""
    return {"start_new_session": True}


@dataclass(frozen=True)
class KernelProcess:
    """A running kernel: its pid and the start time that makes the pid unambiguous."""

    pid: int
    start: int | None  # /proc/<pid>/stat starttime; None where there is no /proc

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def of(cls, pid: int) -> KernelProcess:
        return cls(pid, start_time(pid))

    def alive(self) -> bool:
        """Whether this very process still runs (not ended, not a zombie, pid not reused)."""
        stat = _stat(self.pid)
        if stat is None:
            return False
        state, start = stat
        return state not in ("Z", "X") and (self.start is None or start == self.start)


def start_time(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), None if unknown."""
    stat = _stat(pid)
    return stat[1] if stat else None


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, starttime) of ``pid`` from /proc, or None when there is no such process."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text(errors="replace")
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()  # after "pid (comm) "
    try:
        return fields[0], int(fields[19])  # state is field 3, starttime field 22
    except (IndexError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def find_kernel(recorded: Any, result_file: Path | str | None) -> KernelProcess | None:
    """The live kernel that writes ``result_file``: the one ``recorded`` (a checkpointed
    ``{"pid", "start"}``) when it still runs, else any kernel whose command line names that
    result file (started by an apply killed before it could checkpoint the pid). With
    ``result_file`` None: the recorded kernel, whatever its result file (an older
    bricksmith's, which wrote it to a temporary folder)."""
    result = None if result_file is None else str(result_file)
    if isinstance(recorded, dict) and isinstance(recorded.get("pid"), int):
        kernel = KernelProcess(recorded["pid"], recorded.get("start"))
        if kernel.alive() and (_is_kernel_for(kernel.pid, result)
                               or kernel == forked_kernel(result)):
            return kernel
    if result is None:
        return None
    forked = forked_kernel(result)
    if forked is not None and forked.alive():
        return forked
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _is_kernel_for(pid, result):
            kernel = KernelProcess.of(pid)
            if kernel.alive():
                return kernel
    return None


def forked_kernel(result_file: Path | str | None) -> KernelProcess | None:
    """The kernel the local cluster forked to write ``result_file`` (``kernel.json`` beside
    it, written by the driver before the kernel may start), alive or not; None if none."""
    if result_file is None:
        return None
    try:
        record = json.loads(Path(result_file).with_name(FORKED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return None
    start = record.get("start")
    return KernelProcess(record["pid"], start if isinstance(start, int) else None)


def _is_kernel_for(pid: int, result: str | None) -> bool:
    args = _cmdline(pid)
    if not any(arg.endswith(KERNEL.name) for arg in args):
        return False
    if result is None:
        return True
    try:
        return args[args.index("--result") + 1] == result
    except (ValueError, IndexError):
        return False


def wait_for(kernel: KernelProcess, deadline: float | None) -> bool:
    """Wait until ``kernel`` (not a child of this process) ends; False when ``deadline``
    (``time.monotonic()``) passes first."""
    while kernel.alive():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def stop_group(kernel: KernelProcess, process: subprocess.Popen | None = None) -> bool:
    """Stop ``kernel`` and everything it started (its process group): SIGTERM, then SIGKILL
    after a grace period. ``process``: its Popen when it is this process's child (reaped).
    Returns whether there was a kernel to stop."""
    if not kernel.alive():
        if process is not None:
            process.poll()
        return False
    if not hasattr(os, "killpg"):  # Windows: no process groups to signal
        if process is not None:
            process.kill()
            process.wait()
        return True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(kernel.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=KILL_GRACE_S)
    else:
        wait_for(kernel, deadline)
    # the whole group, whether or not its leader ended: what it started goes too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(kernel.pid, signal.SIGKILL)
    if process is not None:
        process.wait()
    else:
        wait_for(kernel, None)
    return True
