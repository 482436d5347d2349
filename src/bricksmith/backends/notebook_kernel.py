"""Run a Databricks SOURCE-format notebook cell by cell in an IPython shell.

Usage:
    python notebook_kernel.py --notebook NB.py --widgets-file WIDGETS.json \
        --result RESULT.json --requirements-key KEY

This is the local stand-in for a Databricks cluster running a notebook. It is a standalone
script: it runs inside the run environment's Python (built from the project's requirements),
needs only the standard library and IPython, and never imports bricksmith.

- Cells are split on ``# COMMAND ----------``; ``# MAGIC`` prefixes are stripped; ``%md``
  cells are skipped.
- ``dbutils`` is a small shim: ``widgets`` (values from the JSON object in ``--widgets-file``
  override the defaults the notebook declares; a file, so that no value is on the process's
  command line, which every user can read), ``notebook.exit(value)`` (ends the notebook
  successfully with ``value``), ``library.restartPython()`` (nothing to do here).
- ``%pip install -r FILE``: the environment was built from that file, so when the key of the
  requirement set it asks for (the file and every file it includes) matches
  ``--requirements-key`` there is nothing to install; otherwise pip installs it.
- Log records whose arguments do not fit their format (``%.3f`` with a pandas object) keep
  their line: the message with the arguments' repr, instead of a "Logging error" traceback.
- A local run (``BRICKSMITH_DBFS_ROOT`` set) puts ``BRICKSMITH_RUN_HOOKS_PATH`` on ``sys.path``
  (bricksmith's Kedro hooks: DBFS paths mapped, metrics collected) and refuses, with a
  PermissionError, any write to the machine's /dbfs, /FileStore or /Volumes.
- A banner is printed before each cell. The outcome is written to ``--result`` as JSON:
  ``{"ok": true, "exit_value": ..., "cells": N}`` or ``{"ok": false, "error": ...,
  "traceback": ..., "cell": I, "cells": N}``. Exit status: 0 ok, 1 a cell failed, 2 the
  notebook or the arguments are unusable.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import traceback

# Running this file puts its folder (bricksmith/backends) first on sys.path, where its
# neighbours (git.py, databricks.py, ...) would shadow real packages. Drop it.
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if not p or os.path.realpath(p) != _HERE]

# No prompt may ever block a run: there is no one to answer it.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("COLUMNS", "160")  # rich log lines are not wrapped at 80 columns

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAGIC = "# MAGIC"
UNSUPPORTED_LANGUAGES = ("%sql", "%scala", "%r", "%sh", "%fs", "%run")
# The machine's folders that a cluster's paths would reach in a local run (mapped elsewhere).
PROTECTED = ("/dbfs", "/FileStore", "/Volumes")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_ARGS_SHOWN = 400  # characters of a badly formatted log call's arguments kept in its line


def requirements_key(path: str) -> str:
    """The cache key of the requirement set ``path`` asks for: the same function the run
    environment was keyed with (``requirements_closure.py`` beside this file, loaded by path:
    bricksmith itself is not installed in the run environment)."""
    import importlib.util

    location = os.path.join(_HERE, "requirements_closure.py")
    spec = importlib.util.spec_from_file_location("_bricksmith_requirements_closure", location)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.requirements_key(path)


class SafeLogRecord(logging.LogRecord):
    """A log record whose message survives arguments that do not fit its format."""

    def getMessage(self) -> str:
        try:
            return super().getMessage()
        except Exception as exc:  # any formatting failure keeps the line
            try:
                shown = " ".join(repr(self.args).split())
            except Exception:
                shown = "<arguments without a repr>"
            if len(shown) > _ARGS_SHOWN:
                shown = shown[:_ARGS_SHOWN] + "..."
            # no square brackets: a rich handler would take them for markup and drop them
            return (
                f"{self.msg} (log arguments that do not fit the format, "
                f"{type(exc).__name__}: {exc}: {shown})"
            )


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class WriteGuard:
    """An audit hook refusing writes under the machine's /dbfs, /FileStore and /Volumes
    (except inside ``allowed`` folders, the emulated ones)."""

    def __init__(self, allowed: list[str]) -> None:
        self.allowed = tuple(os.path.abspath(folder) for folder in allowed if folder)

    def refused(self, path: object) -> str | None:
        """``path`` (normalised) when writing it is refused, else None."""
        if isinstance(path, int):
            return None
        try:
            text = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if any(_under(text, folder) for folder in self.allowed):
            return None
        return text if any(_under(text, folder) for folder in PROTECTED) else None

    def __call__(self, event: str, args: tuple) -> None:
        if event == "open":
            mode, flags = args[1], args[2]
            writing = bool((flags or 0) & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            paths = args[:1] if writing else ()
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree", "os.truncate"):
            paths = args[:1]
        elif event == "os.rename":
            paths = args[:2]
        elif event in ("os.symlink", "os.link"):
            paths = args[1:2]
        else:
            return
        for path in paths:
            refused = self.refused(path)
            if refused:
                raise PermissionError(
                    errno.EACCES,
                    "bricksmith local run: writing the machine's own DBFS/volume folders is "
                    "refused; catalog paths on /dbfs, dbfs:/ and /Volumes are mapped to "
                    f"{' and '.join(self.allowed) or 'the target root'}",
                    refused,
                )


def prepare_process(env: dict[str, str] | None = None) -> None:
    """Robust log records always; in a local run, bricksmith's Kedro hooks on the path and
    the write guard."""
    env = os.environ if env is None else env
    logging.setLogRecordFactory(SafeLogRecord)
    dbfs = env.get("BRICKSMITH_DBFS_ROOT")
    if not dbfs:
        return
    hooks = env.get("BRICKSMITH_RUN_HOOKS_PATH")
    if hooks and hooks not in sys.path:
        sys.path.append(hooks)  # after the environment's own packages
    sys.addaudithook(WriteGuard([dbfs, env.get("BRICKSMITH_VOLUMES_ROOT", "")]))


def parse_notebook(source: str) -> list[str]:
    """The code cells of a Databricks source notebook, magic prefixes stripped, %md skipped."""
    lines = source.splitlines()
    if lines and lines[0].strip() == HEADER:
        lines = lines[1:]
    raw_cells: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == SEPARATOR:
            raw_cells.append([])
        else:
            raw_cells[-1].append(line)
    cells = []
    for raw in raw_cells:
        text = "\n".join(_unmagic(line) for line in raw).strip("\n")
        first = text.lstrip().split("\n", 1)[0].strip()
        if not first or first.startswith("%md"):
            continue
        cells.append(text)
    return cells


def _unmagic(line: str) -> str:
    if line.startswith(MAGIC + " "):
        return line[len(MAGIC) + 1 :]
    if line.rstrip() == MAGIC:
        return ""
    return line


class NotebookExit(Exception):
    """Raised by ``dbutils.notebook.exit``: the notebook ends successfully."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


class _Widgets:
    def __init__(self, values: dict[str, str]) -> None:
        self._values = dict(values)
        self._defaults: dict[str, str] = {}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._defaults[name] = str(defaultValue)

    def dropdown(self, name, defaultValue, choices, label=None) -> None:
        self._defaults[name] = str(defaultValue)

    combobox = dropdown

    def multiselect(self, name, defaultValue, choices, label=None) -> None:
        self._defaults[name] = str(defaultValue)

    def get(self, name: str) -> str:
        if name in self._values:
            return self._values[name]
        if name in self._defaults:
            return self._defaults[name]
        raise ValueError(f"InputWidgetNotDefined: no input widget named {name!r} is defined")

    def getArgument(self, name: str, optional: str | None = None) -> str | None:
        try:
            return self.get(name)
        except ValueError:
            return optional

    def remove(self, name: str) -> None:
        self._defaults.pop(name, None)

    def removeAll(self) -> None:
        self._defaults.clear()


class _Notebook:
    def exit(self, value: object) -> None:
        raise NotebookExit(value)

    def run(self, *args, **kwargs):
        raise NotImplementedError("dbutils.notebook.run is not available in a local run")


class _Library:
    def restartPython(self) -> None:
        print("dbutils.library.restartPython(): nothing to do, the packages were installed first")


class DBUtils:
    """The part of Databricks' ``dbutils`` that a project notebook uses."""

    def __init__(self, widgets: dict[str, str]) -> None:
        self.widgets = _Widgets(widgets)
        self.notebook = _Notebook()
        self.library = _Library()


def run_pip(line: str, env_key: str) -> None:
    """``%pip ...``: skip an install the environment was built from, else run pip."""
    args = shlex.split(line)[1:]
    files = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in ("-r", "--requirement")]
    others = [arg for arg in args[1:] if not arg.startswith("-") and arg not in files]
    if args[:1] == ["install"] and len(files) == 1 and not others:
        key = requirements_key(files[0])  # the file and all it includes (-r/-c, local paths)
        if key == env_key:
            print(
                f"Requirements in {files[0]} are already satisfied: the run environment "
                f"was built from them (key {env_key[:16]})."
            )
            return
        print(f"Requirements in {files[0]} (or a file it includes) differ from the run "
              "environment's: installing them.")
    command = [sys.executable, "-m", "pip", *args]
    print("$ " + " ".join(shlex.quote(arg) for arg in command), flush=True)
    code = subprocess.run(command, stdin=subprocess.DEVNULL, check=False).returncode
    if code != 0:
        raise RuntimeError(f"%pip {' '.join(args)} failed with exit status {code}")


def _first_code_line(cell: str) -> str:
    lines = [line.strip() for line in cell.split("\n")]
    return next((line for line in lines if line and not line.startswith("#")), "")


def _banner(index: int, total: int, cell: str) -> None:
    first = _first_code_line(cell)
    print(f"\n===== [notebook] cell {index}/{total}: {first[:100]} =====", flush=True)


def _write_result(path: str, result: dict) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".result-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    os.replace(tmp, path)


def _failure(error: BaseException, cell: int, cells: int) -> dict:
    return {
        "ok": False,
        "error": f"cell {cell}: {type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        "cell": cell,
        "cells": cells,
    }


def run(notebook: str, widgets: dict[str, str], env_key: str) -> tuple[int, dict]:
    """Run the notebook; return (exit status, result)."""
    with open(notebook, encoding="utf-8") as handle:
        cells = parse_notebook(handle.read())

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False  # no shared sqlite history between parallel runs
    config.InteractiveShell.colors = "nocolor"
    shell = InteractiveShell.instance(config=config)
    exits: list[NotebookExit] = []

    def on_exit(self, etype, value, tb, tb_offset=None):  # IPython's custom-exception hook
        exits.append(value)

    shell.set_custom_exc((NotebookExit,), on_exit)
    shell.user_ns["dbutils"] = DBUtils(widgets)

    for index, cell in enumerate(cells, start=1):
        _banner(index, len(cells), cell)
        language = (_first_code_line(cell).split() or [""])[0]
        try:
            if language in UNSUPPORTED_LANGUAGES:
                raise RuntimeError(f"{language} cells cannot run in a local notebook run")
            if language == "%pip":
                for line in cell.split("\n"):
                    if line.strip().startswith("%pip"):
                        run_pip(line.strip(), env_key)
                continue
        except Exception as exc:  # reported in the result
            traceback.print_exc(file=sys.stdout)
            return 1, _failure(exc, index, len(cells))
        outcome = shell.run_cell(cell, store_history=False, silent=False)
        sys.stdout.flush()
        if exits:
            value = exits[0].value
            print(f"\n===== [notebook] exited at cell {index}/{len(cells)} =====", flush=True)
            exit_value = value if value is None or isinstance(value, str) else str(value)
            return 0, {"ok": True, "exit_value": exit_value, "cells": index}
        error = outcome.error_before_exec or outcome.error_in_exec
        if error is not None:
            return 1, _failure(error, index, len(cells))
    print(f"\n===== [notebook] finished: {len(cells)} cells =====", flush=True)
    return 0, {"ok": True, "exit_value": None, "cells": len(cells)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--notebook", required=True)
    parser.add_argument("--widgets-file", default=None,
                        help="a file holding a JSON object of widget values")
    parser.add_argument("--result", required=True)
    parser.add_argument("--requirements-key", default="")
    args = parser.parse_args(argv)
    with contextlib.suppress(AttributeError):  # a replaced stdout may not support it
        sys.stdout.reconfigure(line_buffering=True)

    prepare_process()
    try:
        widgets = {}
        if args.widgets_file:
            with open(args.widgets_file, encoding="utf-8") as handle:
                widgets = json.load(handle)
        if not isinstance(widgets, dict):
            raise ValueError("--widgets-file must hold a JSON object")
        code, result = run(
            args.notebook, {str(k): str(v) for k, v in widgets.items()}, args.requirements_key
        )
    except (OSError, ValueError) as exc:
        print(f"[notebook] cannot run {args.notebook}: {exc}", flush=True)
        code, result = 2, _failure(exc, 0, 0)
    _write_result(args.result, result)
    if not result["ok"]:
        print(f"[notebook] FAILED: {result['error']}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
