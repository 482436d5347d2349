"""What a job run's notebook task does on the emulated cluster.

1. Read the notebook from the emulated workspace (missing: the run ends INTERNAL_ERROR,
   "Notebook not found: ...", as on Databricks).
2. Translate the cluster's absolute paths (``/Workspace/``, ``/dbfs/``, ``/Volumes/``) in the
   notebook text and the task's ``base_parameters`` (not inside a parameter holding a JSON
   object: see ``translate_parameter``) into the emulator's folders: the stand-in for the FUSE
   mounts. The translated copy is what runs (``<root>/jobs/<task run id>.py``).
3. The environment: the notebook's ``%pip install -r <file>`` names the requirements, and
   ``runtime_env.ensure_environment`` builds (or reuses, cached by their hash) a virtualenv
   from them, as the local backend does. Without such a line, a base environment (IPython
   only) stands in for the cluster's libraries. With ``python`` set, nothing is built: that
   interpreter (which must have IPython) runs every notebook and ``%pip install -r`` lines
   are treated as satisfied — for fast tests.
4. ``local_runner.run_notebook`` runs it cell by cell with the widgets = the task parameters,
   its output appended to ``<root>/jobs/<task run id>.log``, in a ``RunSandbox``: the Kedro
   catalog's ``/dbfs``, ``dbfs:/`` and ``/Volumes`` paths map into the root (the FUSE mounts
   again), Spark runs in local mode with its files under ``<root>/cluster/run-<id>``.

The outcome is SUCCESS with the notebook's exit value, FAILED (the failing cell's error and the
log's tail), TIMEDOUT, or CANCELED.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bricksmith.emulator.paths import Layout
from bricksmith.emulator.workspace import Workspace
from bricksmith.logged import tail

BASE_REQUIREMENTS = ""  # the base environment: what runtime_env always adds (IPython)


@dataclass(frozen=True)
class Outcome:
    life_cycle: str  # TERMINATED or INTERNAL_ERROR
    result: str  # SUCCESS, FAILED, TIMEDOUT, CANCELED
    message: str = ""
    exit_value: str | None = None
    error: str | None = None
    error_trace: str | None = None


def requirements_file(notebook_text: str) -> Path | None:
    """The file of the notebook's first ``%pip install -r FILE`` line, if any."""
    for raw in notebook_text.splitlines():
        line = raw.strip()
        if line.startswith("# MAGIC"):
            line = line[len("# MAGIC") :].strip()
        if not line.startswith("%pip"):
            continue
        try:
            args = shlex.split(line)[1:]
        except ValueError:
            continue
        if args[:1] != ["install"]:
            continue
        for flag, value in zip(args, args[1:], strict=False):
            if flag in ("-r", "--requirement"):
                return Path(value)
    return None


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
    ) -> Outcome:
        from bricksmith.backends.local_runner import run_notebook
        from bricksmith.backends.run_sandbox import RunSandbox
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
            python, key = self._environment(requirements_file(text), log_path)
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
                sandbox=RunSandbox(
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
        if cancelled.is_set() and not result.ok:
            return Outcome("TERMINATED", "CANCELED", "Run cancelled.")
        if result.ok:
            return Outcome("TERMINATED", "SUCCESS", "", result.exit_value)
        error = result.error or "the notebook failed"
        return Outcome("TERMINATED", "FAILED", error, None, error, result.log_tail)

    def _environment(self, requirements: Path | None, log_path: Path) -> tuple[Path, str]:
        """(interpreter, requirements key) for a notebook whose %pip line names
        ``requirements`` (translated, or None)."""
        from bricksmith.backends.runtime_env import ensure_environment, requirements_key

        if self.python is not None:
            key = ""
            if requirements is not None and requirements.is_file():
                key = requirements_key(requirements)
            return self.python, key
        if requirements is None or not requirements.is_file():
            # No (readable) requirements: the cluster's base libraries. A missing file then
            # fails in the notebook's own %pip cell, as on Databricks.
            requirements = self.layout.jobs / "base-requirements.txt"
            if not requirements.is_file():
                requirements.write_text(BASE_REQUIREMENTS, encoding="utf-8")
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"[emulator] run environment from {requirements}\n")
        env = ensure_environment(requirements, self.cache_dir, log_path=log_path)
        return env.python, env.key
