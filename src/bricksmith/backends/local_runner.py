"""Run a notebook locally: the emulated cluster's "run now".

The notebook runs in ``notebook_kernel.py`` under the run environment's Python (see
``runtime_env``), in its own process group, with no standard input and telemetry off; its
output goes to a log file. A notebook that fails is an ordinary outcome (``ok=False`` with the
error and the end of the log); only a timeout or a kernel that cannot start raises.

With a :class:`~bricksmith.backends.run_sandbox.RunSandbox` the run is one of the emulated
cluster's: DBFS and volume paths map into the target root, Spark runs in local mode with its
files there too, and the metrics bricksmith's Kedro hooks found are in ``collected``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bricksmith.backends.logtail import LogFollower
from bricksmith.backends.run_sandbox import RunSandbox
from bricksmith.errors import RunFailedError
from bricksmith.logged import tail

KERNEL = Path(__file__).with_name("notebook_kernel.py")
KILL_GRACE_S = 5.0


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
    with the kernel's process id once it runs (to record it, for example). ``sandbox``: the
    emulated cluster's surroundings (raises RunFailedError when Spark needs a missing Java).
    ``on_line``: called with each line the run logs, as it logs it (``apply -v``).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    extra_env = sandbox.prepare(Path(python)) if sandbox is not None else {}
    with tempfile.TemporaryDirectory(prefix="bricksmith-run-") as scratch:
        result_path = Path(scratch) / "result.json"
        # widget values travel in a file only this user can read, never on the command line
        # (any user can read /proc/<pid>/cmdline)
        widgets_path = Path(scratch) / "widgets.json"
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
                    env={**_kernel_env(Path(python), Path(scratch)), **extra_env},
                    start_new_session=True,  # its own process group, killed as a whole
                )
            except OSError as exc:
                raise RunFailedError(
                    f"The notebook kernel could not start with {python}: {exc.strerror or exc}",
                    hint="The run environment may be gone; re-apply to rebuild it.",
                ) from exc
            if on_start is not None:
                on_start(process.pid)
            follower = LogFollower(log_path, on_line, offset=log.tell()) if on_line else None
            try:
                if follower is not None:
                    with follower:
                        process.wait(timeout=timeout)
                else:
                    process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                log.write(f"\n[bricksmith] the notebook run timed out after {timeout:g} s\n")
                log.flush()
                raise RunFailedError(
                    f"The notebook run timed out after {timeout:g} s.",
                    hint="Raise the run's timeout, or look at the log for the cell that hangs.",
                    log_tail=tail(log_path),
                ) from None
            except BaseException:  # interrupted: leave no orphan behind
                _kill_group(process)
                raise
        duration = time.monotonic() - start
        try:
            outcome = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise RunFailedError(
                f"The notebook kernel ended (exit status {process.returncode}) without a result.",
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


def _kill_group(process: subprocess.Popen) -> None:
    """Stop the kernel and everything it started: SIGTERM, then SIGKILL after a grace period."""
    if process.poll() is not None:
        return
    if not hasattr(os, "killpg"):  # Windows: no process groups to signal
        process.kill()
        process.wait()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_orphan(pid: int | None) -> bool:
    """Kill the process group of a kernel left running by a killed apply (its pid was
    checkpointed). Only a live process whose command line is this kernel is touched, so a
    reused pid is left alone. Returns whether it killed one."""
    if not pid or not hasattr(os, "killpg"):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if KERNEL.name not in cmdline:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
        return True
    return False
