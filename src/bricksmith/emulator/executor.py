"""What a job run's notebook task does on the emulated cluster.

1. Read the notebook from the emulated workspace (missing: the run ends INTERNAL_ERROR,
   "Notebook not found: ...", as on Databricks).
2. Translate the cluster's absolute paths (``/Workspace/``, ``/dbfs/``, ``/Volumes/``) in the
   notebook text and the task's ``base_parameters`` (not inside a parameter holding a JSON
   object: see ``translate_parameter``) into the emulator's folders: the stand-in for the FUSE
   mounts. The translated copy is what runs (``<root>/jobs/<task run id>.py``).
3. The environment: what the compute has installed (``libraries.py``): the cluster's
   requirements libraries (a job task's ``libraries``; a serverless notebook task has none,
   see ``jobs.py``); ``runtime_env.ensure_environment`` builds (or reuses, cached by their hash)
   a virtualenv from them (:meth:`NotebookExecutor.build`). Without any, a base environment
   (IPython only) stands in for the runtime's libraries. What the notebook itself installs
   (``%pip``) goes into a folder of that run only (``PIP_TARGET``, on its ``PYTHONPATH``): a
   notebook-scoped library, as on Databricks, never the shared cached environment. With
   ``python`` set, nothing is built: that interpreter (which must have IPython) runs every
   notebook — for fast tests.
4. ``local_runner.run_notebook`` runs it cell by cell with the widgets = the task parameters,
   its output appended to ``<root>/jobs/<task run id>.log``, in a ``RunSandbox``: the Kedro
   catalog's ``/dbfs``, ``dbfs:/`` and ``/Volumes`` paths map into the root (the FUSE mounts
   again), Spark runs in local mode with its files under ``<root>/cluster/run-<id>``.

The outcome is SUCCESS with the notebook's exit value, FAILED (the failing cell's error and the
log's tail), TIMEDOUT, or CANCELED, with how many times the notebook installed packages
(``%pip``: the line the rendered notebook's install cell prints before it installs, or the
local kernel's ``$ ... -m pip install``) and restarted Python (``dbutils.library.restartPython``:
the kernel's line), read from the run's log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bricksmith.backends.run_sandbox import RunSandbox
from bricksmith.emulator.paths import Layout
from bricksmith.emulator.workspace import Workspace
from bricksmith.logged import tail

BASE_REQUIREMENTS = ""  # the base environment: what runtime_env always adds (IPython)
# log lines that say the notebook installed packages or restarted Python (see the docstring)
NOTEBOOK_INSTALL_MARKS = ("[bricksmith] installing requirements",)
RESTART_MARK = "dbutils.library.restartPython()"


@dataclass(frozen=True)
class Outcome:
    life_cycle: str  # TERMINATED or INTERNAL_ERROR
    result: str  # SUCCESS, FAILED, TIMEDOUT, CANCELED
    message: str = ""
    exit_value: str | None = None
    error: str | None = None
    error_trace: str | None = None
    notebook_installs: int = 0
    restarts: int = 0


def notebook_library_events(log_text: str) -> tuple[int, int]:
    """(installs, Python restarts) the notebook did, from its run log."""
    installs = restarts = 0
    for line in log_text.splitlines():
        if line.startswith(NOTEBOOK_INSTALL_MARKS) or (
                line.startswith("$ ") and " -m pip install" in line):
            installs += 1
        elif line.startswith(RESTART_MARK):
            restarts += 1
    return installs, restarts


class NotebookScopedSandbox(RunSandbox):
    """The emulated cluster's surroundings, plus a folder of the run's own for what its
    notebook installs with %pip (pip's ``PIP_TARGET``, first on ``PYTHONPATH``)."""

    def prepare(self, python: Path, env=None) -> dict[str, str]:
        values = super().prepare(python, env)
        site = self.work / "notebook-site-packages"
        site.mkdir(parents=True, exist_ok=True)
        values["PIP_TARGET"] = str(site)
        values["PYTHONPATH"] = str(site)
        return values


def translate_parameter(layout: Layout, value: str) -> str:
    """A task parameter as the notebook gets it: cluster paths translated (the FUSE stand-in),
    except in a parameter holding a JSON object (a run's Kedro params): its values reach the
    notebook exactly as sent, as on Databricks, and stay valid JSON whatever the root's name.
    The local backend does the same: catalog paths are mapped by the run's hooks instead."""
    if value.lstrip().startswith("{"):
        try:
            if isinstance(json.loads(value), dict):
                return value
        except ValueError:
            pass
    return layout.translate(value)


def kill_group(pid: int) -> None:
    """Stop a kernel and what it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if hasattr(os, "killpg"):
            os.killpg(pid, signal.SIGTERM)
        else:  # pragma: no cover - Windows
            os.kill(pid, signal.SIGTERM)


class NotebookExecutor:
    def __init__(
        self, layout: Layout, workspace: Workspace, cache_dir: Path, python: Path | None
    ) -> None:
        self.layout = layout
        self.workspace = workspace
        self.cache_dir = cache_dir
        self.python = python

    def run(
        self,
        *,
        task_run_id: int,
        notebook_path: str,
        parameters: dict[str, str],
        timeout_s: float | None,
        cancelled: threading.Event,
        on_start: Callable[[int], None],
        environment: tuple[Path, str] | None = None,
    ) -> Outcome:
        """Run the notebook in ``environment`` ((interpreter, requirements key): what the
        compute has installed; None: the base environment)."""
        from bricksmith.backends.local_runner import run_notebook
        from bricksmith.errors import BricksmithError, EnvironmentBuildError

        notebook = self.workspace.lookup_notebook(notebook_path)
        if notebook is None:
            return Outcome("INTERNAL_ERROR", "FAILED", f"Notebook not found: {notebook_path}")
        if notebook.language != "PYTHON":
            return Outcome(
                "INTERNAL_ERROR", "FAILED", f"{notebook.language} notebooks cannot run here"
            )
        log_path = self.layout.jobs / f"{task_run_id}.log"
        text = self.layout.translate(notebook.disk.read_text(encoding="utf-8"))
        widgets = {str(k): translate_parameter(self.layout, str(v)) for k, v in parameters.items()}
        translated = self.layout.jobs / f"{task_run_id}.py"
        translated.write_text(text, encoding="utf-8")
        try:
            python, key = environment or self._base_environment(log_path)
        except EnvironmentBuildError as exc:
            message = f"Library installation failed: {exc.message}"
            return Outcome("TERMINATED", "FAILED", message, None, message, exc.log_tail or "")
        if cancelled.is_set():
            return Outcome("TERMINATED", "CANCELED", "Run cancelled.")
        try:
            result = run_notebook(
                translated,
                python=python,
                widgets=widgets,
                requirements_key=key,
                log_path=log_path,
                workdir=notebook.disk.parent,
                timeout=timeout_s or None,
                on_start=on_start,
                sandbox=NotebookScopedSandbox(
                    self.layout.dbfs,
                    self.layout.volumes,
                    self.layout.root / "cluster" / f"run-{task_run_id}",
                    collect_metrics=False,  # a job run reports only its exit value
                ),
            )
        except BricksmithError as exc:
            if cancelled.is_set():
                return Outcome("TERMINATED", "CANCELED", "Run cancelled.")
            timed_out = "timed out" in exc.message
            result_state = "TIMEDOUT" if timed_out else "FAILED"
            return Outcome(
                "TERMINATED", result_state, exc.message, None, exc.message, tail(log_path)
            )
        installs, restarts = notebook_library_events(
            log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else "")
        if cancelled.is_set() and not result.ok:
            return Outcome("TERMINATED", "CANCELED", "Run cancelled.")
        if result.ok:
            return Outcome("TERMINATED", "SUCCESS", "", result.exit_value,
                           notebook_installs=installs, restarts=restarts)
        error = result.error or "the notebook failed"
        return Outcome("TERMINATED", "FAILED", error, None, error, result.log_tail,
                       notebook_installs=installs, restarts=restarts)

    def _base_environment(self, log_path: Path) -> tuple[Path, str]:
        """The runtime's own libraries (IPython only here): a compute with nothing installed."""
        if self.python is not None:
            return self.python, ""
        requirements = self.layout.jobs / "base-requirements.txt"
        if not requirements.is_file():
            requirements.write_text(BASE_REQUIREMENTS, encoding="utf-8")
        return self._ensure(requirements, log_path)

    def _ensure(self, requirements: Path, log_path: Path) -> tuple[Path, str]:
        from bricksmith.backends.runtime_env import ensure_environment

        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"[emulator] run environment from {requirements}\n")
        env = ensure_environment(requirements, self.cache_dir, log_path=log_path)
        return env.python, env.key

    def build(self, requirements: str, log_path: Path) -> tuple[Path, str]:
        """Install ``requirements`` — a cluster path of a requirements file, or the lines of a
        serverless environment's ``dependencies`` — into an environment: (interpreter, key).
        A file whose only requirement line is ``-r <file>`` asks for exactly that file's set:
        the included file is installed (so the cache key does not depend on where the
        emulator's root is). Raises EnvironmentBuildError."""
        from bricksmith.backends.runtime_env import requirements_key
        from bricksmith.errors import EnvironmentBuildError

        log_path.parent.mkdir(parents=True, exist_ok=True)
        if "\n" in requirements or requirements.startswith("-"):
            text = requirements  # dependencies: pip requirement lines
            folder, file = self.layout.jobs, None
        else:
            disk = Path(self.layout.translate(requirements))
            try:
                text = disk.read_text(encoding="utf-8")
            except OSError as exc:
                raise EnvironmentBuildError(
                    f"cannot read the requirements file {requirements}: {exc.strerror or exc}"
                ) from None
            folder, file = disk.parent, disk
        for _ in range(10):  # follow files that only include another one
            lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
            lines = [line for line in lines if line]
            only = shlex.split(lines[0]) if len(lines) == 1 else []
            if len(only) != 2 or only[0] not in ("-r", "--requirement"):
                break
            target = Path(self.layout.translate(only[1]))
            file = target if target.is_absolute() else folder / target
            try:
                text, folder = file.read_text(encoding="utf-8"), file.parent
            except OSError:
                break  # missing: the build fails on it, naming it
        if file is None:
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            file = self.layout.jobs / f"requirements-{digest}.txt"
            file.write_text(self.layout.translate(text), encoding="utf-8")
        if self.python is not None:
            return self.python, requirements_key(file) if file.is_file() else ""
        if not file.is_file():
            raise EnvironmentBuildError(f"cannot read the requirements file {file}")
        return self._ensure(file, log_path)
