"""Run a notebook locally: the emulated cluster's "run now".

The notebook runs in ``notebook_kernel.py`` under the run environment's Python (see
``runtime_env``), detached in its own session (``kernels`` says why and how a later apply
re-attaches to it), with no standard input and telemetry off; its output goes to a log file.
A notebook that fails is an ordinary outcome (``ok=False`` with the error and the end of the
log); only a timeout or a kernel that cannot start raises.

With a :class:`~bricksmith.backends.run_sandbox.RunSandbox` the run is one of the emulated
cluster's: DBFS and volume paths map into the target root, Spark runs in local mode with its
files there too, and the metrics bricksmith's Kedro hooks found are in ``collected``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bricksmith.backends.kernels import KERNEL, KernelProcess, detached, stop_group, wait_for
from bricksmith.backends.logtail import LogFollower
from bricksmith.backends.run_sandbox import RunSandbox
from bricksmith.errors import RunFailedError
from bricksmith.logged import tail

__all__ = ["KERNEL", "NotebookResult", "attach", "adopt", "run_notebook"]


@dataclass(frozen=True)
class NotebookResult:
    ok: bool
    exit_value: str | None  # what the notebook passed to dbutils.notebook.exit
    error: str | None  # "cell N: ExceptionType: message" when not ok
    log_tail: str  # the last lines of the run's log
    duration_s: float
    # what bricksmith's Kedro hooks collected: {"metrics": {...}, "sources": {...}}, or None
    collected: dict | None = None


def run_notebook(
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
) -> NotebookResult:
    """Run ``notebook`` cell by cell with ``python`` (a run environment's interpreter).

    ``widgets`` are the notebook's widget values (a job run's parameters), ``workdir`` its
    working directory. The kernel's output is appended to ``log_path``. ``on_start`` is called
    with the kernel's process id once it runs (to checkpoint it: a later apply re-attaches with
    :func:`attach` or :func:`adopt`). ``sandbox``: the emulated cluster's surroundings; the
    kernel's scratch files and its result (``sandbox.result_file``) are in its folder, else in a
    temporary folder removed at the end (raises RunFailedError when Spark needs a missing
    Java). ``on_line``: called with each line the run logs, as it logs it (``apply -v``).
    A timeout or an exception in this thread (KeyboardInterrupt) stops the kernel's group.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    with _scratch(sandbox) as scratch:
        extra_env = sandbox.prepare(Path(python)) if sandbox is not None else {}
        result_path = sandbox.result_file if sandbox is not None else scratch / "result.json"
        # widget values travel in a file only this user can read, never on the command line
        # (any user can read /proc/<pid>/cmdline); it lives as long as the scratch folder, so
        # a kernel that outlives this apply has read it already
        widgets_path = scratch / "widgets.json"
        fd = os.open(widgets_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(widgets, handle, ensure_ascii=False)
        command = [
            str(python),
            str(KERNEL),
            "--notebook",
            str(Path(notebook).resolve()),
            "--widgets-file",
            str(widgets_path),
            "--result",
            str(result_path),
            "--requirements-key",
            requirements_key,
        ]
        start = time.monotonic()
        with open(log_path, "a", encoding="utf-8") as log:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    env={**_kernel_env(Path(python), scratch), **extra_env},
                    **detached(),
                )
            except OSError as exc:
                raise RunFailedError(
                    f"The notebook kernel could not start with {python}: {exc.strerror or exc}",
                    hint="The run environment may be gone; re-apply to rebuild it.",
                ) from exc
            kernel = KernelProcess.of(process.pid)
            try:
                if on_start is not None:
                    on_start(process.pid)
                follower = LogFollower(log_path, on_line, offset=log.tell()) if on_line else None
                if follower is not None:
                    with follower:
                        process.wait(timeout=timeout)
                else:
                    process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop_group(kernel, process)
                raise _timed_out(log_path, timeout) from None
            except BaseException:  # interrupted: leave no orphan behind
                stop_group(kernel, process)
                raise
        return _finished(result_path, log_path, time.monotonic() - start, sandbox,
                         f"exit status {process.returncode}")


def attach(
    kernel: KernelProcess,
    result_path: Path,
    *,
    log_path: Path,
    started_at: float | None = None,
    timeout: float | None = None,
    sandbox: RunSandbox | None = None,
    on_line: Callable[[str], None] | None = None,
) -> NotebookResult:
    """Wait for ``kernel`` (started by an earlier, killed apply) to end, then read its result
    from ``result_path``. ``started_at``: its start (``time.time()``) for the duration;
    ``timeout``: seconds from now (then its group is stopped and RunFailedError raised), as is
    an exception in this thread (KeyboardInterrupt)."""
    log_path = Path(log_path)
    begun = time.monotonic()
    deadline = None if timeout is None else begun + timeout
    offset = log_path.stat().st_size if log_path.exists() else 0
    follower = LogFollower(log_path, on_line, offset=offset) if on_line else None
    try:
        if follower is not None:
            with follower:
                ended = wait_for(kernel, deadline)
        else:
            ended = wait_for(kernel, deadline)
    except BaseException:
        stop_group(kernel)
        raise
    if not ended:
        stop_group(kernel)
        raise _timed_out(log_path, timeout)
    duration = time.time() - started_at if started_at else time.monotonic() - begun
    return _finished(Path(result_path), log_path, duration, sandbox, "re-attached")


def adopt(
    result_path: Path,
    *,
    log_path: Path,
    started_at: float | None = None,
    sandbox: RunSandbox | None = None,
) -> NotebookResult | None:
    """The result a kernel of an earlier, killed apply wrote to ``result_path`` before it
    ended; None when there is none (the kernel died without one: the run must be repeated)."""
    try:
        written = Path(result_path).stat().st_mtime
    except OSError:
        return None
    duration = max(0.0, written - started_at) if started_at else 0.0
    try:
        return _finished(Path(result_path), Path(log_path), duration, sandbox, "")
    except RunFailedError:
        return None


@contextmanager
def _scratch(sandbox: RunSandbox | None) -> Iterator[Path]:
    """The kernel's scratch folder: the sandbox's (kept: it holds the result a re-attaching
    apply reads) or a temporary one, removed at the end."""
    if sandbox is not None:
        yield sandbox.work
        return
    with tempfile.TemporaryDirectory(prefix="bricksmith-run-") as folder:
        yield Path(folder)


def _timed_out(log_path: Path, timeout: float | None) -> RunFailedError:
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n[bricksmith] the notebook run timed out after {timeout:g} s\n")
    return RunFailedError(
        f"The notebook run timed out after {timeout:g} s.",
        hint="Raise the run's timeout, or look at the log for the cell that hangs.",
        log_tail=tail(log_path),
    )


def _finished(result_path: Path, log_path: Path, duration: float, sandbox: RunSandbox | None,
              how: str) -> NotebookResult:
    try:
        outcome = json.loads(result_path.read_text(encoding="utf-8"))
        if not isinstance(outcome, dict):
            raise ValueError(result_path)
    except (OSError, ValueError):
        raise RunFailedError(
            f"The notebook kernel ended ({how}) without a result." if how else
            "The notebook kernel ended without a result.",
            hint="It could not start or was killed; the log tail shows why.",
            log_tail=tail(log_path),
        ) from None
    return NotebookResult(
        ok=bool(outcome.get("ok")),
        exit_value=outcome.get("exit_value"),
        error=outcome.get("error"),
        log_tail=tail(log_path),
        duration_s=duration,
        collected=sandbox.collected() if sandbox is not None else None,
    )


def _kernel_env(python: Path, scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    # the run is the emulated cluster's Python: the caller's interpreter settings do not
    # apply, and bytecode is cached (in the run environment) as on a cluster
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP",
                 "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    # the caller's terminal size is not the log's: rich in the kernel lays out for its own
    # width (notebook_kernel sets COLUMNS), never wraps Kedro's lines at the user's 80 columns
    for name in ("COLUMNS", "LINES"):
        env.pop(name, None)
    env.update(
        DO_NOT_TRACK="1",
        KEDRO_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
        IPYTHONDIR=str(scratch / "ipython"),  # no shared profile or history between runs
        PIP_NO_INPUT="1",
    )
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    return env
