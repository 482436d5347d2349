"""Render the Databricks notebook that runs a Kedro project (the guide's notebook, as code).

The notebook is in Databricks SOURCE format: a ``.py`` file whose first line is
``# Databricks notebook source``, whose cells are separated by ``# COMMAND ----------`` and
whose magic cells have every line prefixed with ``# MAGIC``. Databricks imports it as a
notebook, and bricksmith's local kernel (``backends/notebook_kernel.py``) runs the very same
file cell by cell.

The run's inputs are notebook widgets, which a job run sets from its parameters:

- ``data_root``: the folder holding the project's ``data/`` layers (``/dbfs/...`` on Databricks);
- ``params``: extra Kedro runtime parameters, ``k=v`` pairs separated by commas, as
  ``kedro run --params`` takes them.

The last cell ends the notebook with ``dbutils.notebook.exit(<metrics as JSON>)``, which a job
run reports as its output. The metrics are found without the project's help (any project, on
Databricks too): the numbers in the run's free outputs held in memory and in the outputs whose
name says metrics, named as ``bricksmith_run_hooks.metrics`` names them.
"""

from __future__ import annotations

import json
import shlex

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
dbutils.notebook.exit(json.dumps(metrics))"""


def magic_cell(text: str) -> str:
    """A magic cell: every line prefixed as Databricks does (a blank line gets ``# MAGIC``)."""
    lines = text.split("\n")
    return "\n".join(MAGIC_PREFIX + line if line else MAGIC_PREFIX.rstrip() for line in lines)


def render_notebook(*, title: str, repo_path: str, data_root: str) -> str:
    """The notebook that installs the project's requirements, loads it with Kedro's IPython
    extension and runs it with the run's parameters.

    ``repo_path`` is the project as the notebook sees it (``/Workspace/Repos/<user>/<name>`` on
    Databricks); ``data_root`` is the default of the ``data_root`` widget.
    """
    repo = repo_path.rstrip("/") or "/"
    requirements = shlex.quote(f"{repo}/requirements.txt")
    title_line = " ".join(title.split()) or "Kedro run"
    cells = [
        magic_cell(
            f"%md\n# {title_line}\n\n"
            f"Runs the Kedro project in `{repo}` with the data under the `data_root` widget.\n"
            "Extra Kedro runtime parameters go in the `params` widget as `key=value` pairs\n"
            "separated by commas. Rendered by bricksmith."
        ),
        magic_cell(f"%pip install -r {requirements}"),
        # Databricks keeps the widgets but drops Python state: packages installed above load fresh.
        "dbutils.library.restartPython()",
        "\n".join(
            [
                'dbutils.widgets.text("params", "")',
                f'dbutils.widgets.text("data_root", {json.dumps(data_root)})',
                "",
                '_run_params = dbutils.widgets.get("params").strip().strip(",")',
                '_data_root = dbutils.widgets.get("data_root").strip()',
                "# kedro --params: data_root first, so the run's own params can follow it",
                'kedro_params = ",".join(p for p in (f"data_root={_data_root}", _run_params) if p)',
                'print(f"Kedro runtime params: {kedro_params}")',
            ]
        ),
        magic_cell("%load_ext kedro.ipython"),
        # IPython expands {kedro_params} in line magics; Kedro strips the quotes again.
        magic_cell(f'%reload_kedro {shlex.quote(repo)} --params "{{kedro_params}}"'),
        "result = session.run()",
        METRICS_CELL,
    ]
    # Databricks writes a blank line on each side of the separator.
    return HEADER + "\n" + f"\n{CELL_SEPARATOR}\n".join(cells) + "\n"
