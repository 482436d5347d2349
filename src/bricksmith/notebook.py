"""Render the Databricks notebook that runs a Kedro project (the guide's notebook, as code).

The notebook is in Databricks SOURCE format: a ``.py`` file whose first line is
``# Databricks notebook source``, whose cells are separated by ``# COMMAND ----------`` and
whose magic cells have every line prefixed with ``# MAGIC``. Databricks imports it as a
notebook, and bricksmith's local kernel (``backends/notebook_kernel.py``) runs the very same
file cell by cell.

The run's inputs are notebook widgets, which a job run sets from its parameters:

- ``data_root``: the folder holding the project's ``data/`` layers (``/dbfs/...`` on Databricks);
- ``bricksmith_params``: the run's Kedro runtime parameters as ONE JSON object (nested mappings,
  lists, strings, numbers, booleans, null). A Python cell decodes it and hands it to Kedro's
  ``reload_kedro(path, None, runtime_params)`` (what ``%reload_kedro`` calls), so no value is
  re-typed or re-quoted by a magic line (https://github.com/kedro-org/kedro/issues/4813) and no
  value can add options. Kedro merges runtime params into its config key by key
  (``OmegaConf.unsafe_merge``, kedro/config/omegaconf_config.py): nested mappings merge, lists
  and scalars replace.

After ``reload_kedro`` the notebook reads ``context.params`` (Kedro's merge of the project's
config and the runtime params) and records the warnings ``session.run()`` raises (Kedro's "Save
version ... did not match load version ..."). The last cell ends the notebook with
``dbutils.notebook.exit(<JSON object>)``, which a job run reports as its output::

    {"metrics": {...}, "effective_params": {...}, "warnings": ["UserWarning: ..."]}

(``effective_params_partial: true`` when the parameters were too big to report whole: then only
the keys the runtime params name are in it). The metrics are found without the project's help
(any project, on Databricks too): the numbers in the run's free outputs held in memory and in the
outputs whose name says metrics, named as ``bricksmith_run_hooks.metrics`` names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

HEADER = "# Databricks notebook source"
CELL_SEPARATOR = "\n# COMMAND ----------\n"
MAGIC_PREFIX = "# MAGIC "

# The last cell. Keep its naming in step with bricksmith/kedro_run/bricksmith_run_hooks/metrics.py
METRICS_CELL = """\
import json
import math
import numbers


def numbers_in(value, name=""):
    \"\"\"The finite numbers in value (a number, a pandas Series, or a dict of them), by name.\"\"\"
    if hasattr(value, "to_dict") and getattr(value, "ndim", None) == 1:
        value = value.to_dict()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = int(value) if isinstance(value, numbers.Integral) else float(value)
        return {name: number} if math.isfinite(number) else {}
    if isinstance(value, dict):
        found = {}
        for key, item in value.items():
            found.update(numbers_in(item, f"{name}.{key}" if name else str(key)))
        return found
    return {}


# The run's metrics: the numbers in its free outputs held in memory and in those whose name says
# metrics. A dict's numbers are named by their keys (a name already taken gets the output's name
# in front), a number by its output's name. Kedro 1.x returns datasets, older versions the data.
metrics = {}
for output_name in sorted(result):
    output = result[output_name]
    in_memory = not hasattr(output, "load") or type(output).__name__ == "MemoryDataset"
    if not in_memory and "metrics" not in output_name.lower():
        continue  # persisted data is not read back just to look for numbers
    try:
        data = output.load() if hasattr(output, "load") else output
    except Exception as error:
        print(f"metrics: cannot read the output {output_name}: {error}")
        continue
    for key, number in numbers_in(data).items():
        label = key or output_name
        if label in metrics:
            label = f"{output_name}.{key}" if key else output_name
        metrics[label] = number
dbutils.notebook.exit(json.dumps({
    "metrics": metrics,
    "effective_params": effective_params,
    **({"effective_params_partial": True} if effective_params_partial else {}),
    "warnings": run_warnings,
}))"""

WIDGET_PARAMS = "bricksmith_params"
WIDGET_DATA_ROOT = "data_root"
# Effective params bigger than this (JSON characters) are reported for the runtime keys only
# (a job run's output is cut at 5 MB: Jobs API runs/get-output).
MAX_REPORTED_PARAMS = 1_000_000
MAX_WARNINGS = 50  # distinct warnings kept for the run's summary

PARAMS_CELL = f"""\
import json

dbutils.widgets.text("{WIDGET_PARAMS}", "{{}}")
dbutils.widgets.text("{WIDGET_DATA_ROOT}", __DATA_ROOT__)

# The run's Kedro runtime parameters: one JSON object, decoded here, so every value keeps its
# type and its exact text. data_root first: the run's own params may set it too.
_decoded = json.loads(dbutils.widgets.get("{WIDGET_PARAMS}") or "{{}}")
if not isinstance(_decoded, dict):
    raise ValueError("the {WIDGET_PARAMS} widget must hold a JSON object of parameters")
runtime_params = {{"data_root": dbutils.widgets.get("{WIDGET_DATA_ROOT}").strip(), **_decoded}}
print("Kedro runtime params: " + json.dumps(runtime_params, ensure_ascii=False))"""

RELOAD_CELL = """\
from kedro.ipython import reload_kedro

# What %reload_kedro <project> --params ... does, with the params as data: nothing is re-parsed.
# Arguments: project path, environment (the project's default), runtime params (named
# runtime_params since Kedro 1.0, extra_params before: passed by position for both).
reload_kedro(__REPO__, None, runtime_params)"""

EFFECTIVE_PARAMS_CELL = f"""\
import dataclasses
import json


def plain(value):
    \"\"\"A JSON-able stand-in for a parameter Kedro turned into an object.\"\"\"
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


# The parameters Kedro really uses: the project's config merged with the runtime params.
effective_params = json.loads(json.dumps(context.params, default=plain))
effective_params_partial = len(json.dumps(effective_params)) > {MAX_REPORTED_PARAMS}
if effective_params_partial:
    effective_params = {{k: effective_params.get(k) for k in runtime_params}}"""

RUN_CELL = f"""\
import warnings

# The warnings of the run (Kedro's "Save version ... did not match load version ..."), kept for
# the run's summary and still printed in its log; the libraries' deprecation notices only there.
run_warnings = []
with warnings.catch_warnings(record=True) as _caught:
    try:
        result = session.run()
    finally:
        for _warning in _caught:
            _text = f"{{_warning.category.__name__}}: {{str(_warning.message).strip()}}"
            print(f"{{_warning.filename}}:{{_warning.lineno}}: {{_text}}")
            _notice = issubclass(_warning.category, (DeprecationWarning, FutureWarning))
            if _notice or "deprecated" in _text.lower():
                continue
            if _text not in run_warnings and len(run_warnings) < {MAX_WARNINGS}:
                run_warnings.append(_text)"""


# The guide's `%pip install -r <repo>/requirements.txt`, run only when the Python process lacks
# a requirement ("repeating this step is only necessary if your project's dependencies change").
# A bricksmith job run on a cluster installs the file there first (the task's libraries), so a
# re-run installs nothing and keeps its Python process; on serverless compute a notebook task
# takes no job environment, so this cell installs on every run (databricks_libraries.py). On
# Databricks, %pip makes a notebook-scoped environment and dbutils.library.restartPython() loads
# what it installed (Databricks: "Notebook-scoped Python libraries"; DBR 13+ does not restart
# Python by itself after %pip). The cell calls %pip through IPython's run_line_magic, as the
# notebook's kernel is IPython (*unverified* on a live workspace). The emulator counts installs
# and restarts by the printed marker line: keep it in step with emulator/executor.py.
INSTALL_CELL = """\
import importlib.metadata
import os
import re
import shlex

REQUIREMENTS = __REQUIREMENTS__


def _requirement_type():
    try:
        from packaging.requirements import Requirement
    except ImportError:
        try:
            from pip._vendor.packaging.requirements import Requirement
        except ImportError:
            return None
    return Requirement


def _lines(path):
    \"\"\"The lines of a pip requirements file: continuations joined, comments dropped.\"\"\"
    with open(path, encoding="utf-8") as handle:
        text = handle.read().replace("\\\\\\n", "")
    return [re.split(r"(?:^|\\s)#", line, maxsplit=1)[0].strip() for line in text.splitlines()]


def _installed(name, specifier=None):
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return specifier is None or specifier.contains(version, prereleases=True)


def _local_project_name(folder):
    try:
        import tomllib
        with open(os.path.join(folder, "pyproject.toml"), "rb") as handle:
            return tomllib.load(handle)["project"]["name"]
    except Exception:
        return None


def missing_requirements(path, seen=None):
    \"\"\"The requirements (lines of the file at path and of the files it includes with -r)
    that this Python does not satisfy; a line that cannot be checked here counts as missing.\"\"\"
    Requirement = _requirement_type()
    if Requirement is None:
        return [path + " (packaging is not importable: nothing can be checked)"]
    seen = set() if seen is None else seen
    if os.path.realpath(path) in seen:
        return []
    seen.add(os.path.realpath(path))
    folder, missing = os.path.dirname(path), []
    for line in _lines(path):
        include = re.match(r"^(?:-r\\s*|--requirement(?:\\s*=\\s*|\\s+))(\\S+)$", line)
        editable = re.match(r"^(?:-e|--editable)(?:\\s*=\\s*|\\s+)(\\S+)$", line)
        if not line:
            continue
        if include:
            missing += missing_requirements(os.path.join(folder, include.group(1)), seen)
        elif editable or line.startswith((".", "/")):
            target = editable.group(1) if editable else line
            name = _local_project_name(os.path.join(folder, target.split("#", 1)[0]))
            if not (name and _installed(name)):
                missing.append(line)
        elif line.startswith("-"):
            continue  # an option (an index, constraints): it names no package
        else:
            try:
                requirement = Requirement(line)
            except Exception:
                missing.append(line)  # a URL or something else this cell cannot check
                continue
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            if not _installed(requirement.name, requirement.specifier):
                missing.append(line)
                continue
            for extra in sorted(requirement.extras):
                for needed in importlib.metadata.requires(requirement.name) or []:
                    dependency = Requirement(needed)
                    marker = dependency.marker
                    if marker is None or not marker.evaluate({"extra": extra}):
                        continue
                    if marker.evaluate({"extra": ""}):
                        continue  # needed without the extra too: checked with the package
                    if not _installed(dependency.name, dependency.specifier):
                        missing.append(f"{line} (needs {needed.split(';')[0].strip()})")
    return missing


requirements_missing = missing_requirements(REQUIREMENTS)
if requirements_missing:
    print("[bricksmith] installing requirements: missing " + ", ".join(requirements_missing),
          flush=True)
    get_ipython().run_line_magic("pip", "install -r " + shlex.quote(REQUIREMENTS))
else:
    print(f"[bricksmith] every requirement in {REQUIREMENTS} is already satisfied: "
          "nothing to install, no Python restart", flush=True)"""

# Databricks keeps the widgets but drops Python state: packages installed above load fresh.
RESTART_CELL = """\
if globals().get("requirements_missing"):
    dbutils.library.restartPython()"""


def magic_cell(text: str) -> str:
    """A magic cell: every line prefixed as Databricks does (a blank line gets ``# MAGIC``)."""
    lines = text.split("\n")
    return "\n".join(MAGIC_PREFIX + line if line else MAGIC_PREFIX.rstrip() for line in lines)


def render_notebook(*, title: str, repo_path: str, data_root: str) -> str:
    """The notebook that installs the project's requirements, loads it with Kedro's IPython
    extension and runs it with the run's parameters.

    ``repo_path`` is the project as the notebook sees it (``/Workspace/Repos/<user>/<name>`` on
    Databricks), any characters allowed; ``data_root`` is the default of the ``data_root``
    widget. The run's parameters are not in the notebook: a run passes them in the
    ``bricksmith_params`` widget (see :func:`params_widgets`).
    """
    repo = repo_path.rstrip("/") or "/"
    title_line = " ".join(title.split()) or "Kedro run"
    cells = [
        magic_cell(
            f"%md\n# {title_line}\n\n"
            f"Runs the Kedro project in `{repo}` with the data under the `data_root` widget.\n"
            f"Kedro runtime parameters go in the `{WIDGET_PARAMS}` widget as one JSON object\n"
            '(for example `{"train_fraction": 0.7}`). Rendered by bricksmith.'
        ),
        INSTALL_CELL.replace("__REQUIREMENTS__", json.dumps(f"{repo}/requirements.txt")),
        RESTART_CELL,
        PARAMS_CELL.replace("__DATA_ROOT__", json.dumps(data_root)),
        magic_cell("%load_ext kedro.ipython"),
        RELOAD_CELL.replace("__REPO__", json.dumps(repo)),
        EFFECTIVE_PARAMS_CELL,
        RUN_CELL,
        METRICS_CELL,
    ]
    # Databricks writes a blank line on each side of the separator.
    return HEADER + "\n" + f"\n{CELL_SEPARATOR}\n".join(cells) + "\n"


def params_widgets(params: Mapping[str, Any], data_root: str) -> dict[str, str]:
    """The widget values (a job run's ``base_parameters``) that give a run ``params``:
    ``{"bricksmith_params": "<JSON object>", "data_root": data_root}``. Raises ``ValueError``
    for a value JSON cannot hold (the spec loader only makes JSON-like data)."""
    text = json.dumps(dict(params), ensure_ascii=False, allow_nan=False, sort_keys=False)
    return {WIDGET_PARAMS: text, WIDGET_DATA_ROOT: data_root}
