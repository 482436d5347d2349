"""The rendered Databricks notebook (SOURCE format). It is run for real in
tests/backends/test_local_runner.py; here its shape and its parameter cell."""

import importlib.util
import json
from pathlib import Path

import pytest

import bricksmith.backends
from bricksmith.notebook import CELL_SEPARATOR, HEADER, render_notebook

REPO = "/Workspace/Repos/me@example.com/iris-databricks"
DATA_ROOT = "/dbfs/FileStore/iris-databricks/data"


@pytest.fixture
def source() -> str:
    return render_notebook(title="iris-databricks: baseline", repo_path=REPO, data_root=DATA_ROOT)


def cells(source: str) -> list[str]:
    body = source.split("\n", 1)[1]
    return [cell.strip("\n") for cell in body.split(CELL_SEPARATOR)]


def kernel():
    path = Path(bricksmith.backends.__file__).with_name("notebook_kernel.py")
    spec = importlib.util.spec_from_file_location("notebook_kernel_for_notebook_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_source_format(source):
    assert source.splitlines()[0] == HEADER == "# Databricks notebook source"
    assert source.endswith("\n")
    parts = cells(source)
    assert parts[0].startswith("# MAGIC %md\n# MAGIC # iris-databricks: baseline")
    for cell in parts:
        lines = cell.splitlines()
        magic = [line.startswith("# MAGIC") for line in lines]
        assert all(magic) or not any(magic), cell  # a cell is all magic or all Python


def test_cells_follow_the_guide(source):
    parts = cells(source)
    assert parts[1] == f"# MAGIC %pip install -r {REPO}/requirements.txt"
    assert 'dbutils.widgets.text("params", "")' in parts[3]
    assert f'dbutils.widgets.text("data_root", "{DATA_ROOT}")' in parts[3]
    assert parts[4] == "# MAGIC %load_ext kedro.ipython"
    assert parts[5] == f'# MAGIC %reload_kedro {REPO} --params "{{kedro_params}}"'
    assert parts[6] == "result = session.run()"
    assert "for output_name in sorted(result):" in parts[7]
    assert parts[7].splitlines()[-1] == "dbutils.notebook.exit(json.dumps(metrics))"


class FakeWidgets:
    """Databricks widgets: declared defaults, overridden by a job run's parameters."""

    def __init__(self, values):
        self.values = dict(values)

    def text(self, name, default, label=None):
        self.values.setdefault(name, default)

    def get(self, name):
        return self.values[name]


class FakeDbutils:
    def __init__(self, values):
        self.widgets = FakeWidgets(values)


@pytest.mark.parametrize(
    ("widgets", "expected"),
    [
        ({}, f"data_root={DATA_ROOT}"),
        ({"params": ""}, f"data_root={DATA_ROOT}"),
        ({"params": "train_fraction=0.7"}, f"data_root={DATA_ROOT},train_fraction=0.7"),
        (
            {"params": "train_fraction=0.7,random_state=5", "data_root": "/tmp/dbfs/x"},
            "data_root=/tmp/dbfs/x,train_fraction=0.7,random_state=5",
        ),
    ],
)
def test_params_cell_builds_kedro_params(source, widgets, expected):
    namespace = {"dbutils": FakeDbutils(widgets)}
    exec(cells(source)[3], namespace)
    assert namespace["kedro_params"] == expected


def test_the_kernel_reads_the_cells_back(source):
    code_cells = kernel().parse_notebook(source)
    assert len(code_cells) == len(cells(source)) - 1  # the %md cell is not run
    assert code_cells[0] == f"%pip install -r {REPO}/requirements.txt"
    assert code_cells[3] == "%load_ext kedro.ipython"
    assert code_cells[4].startswith("%reload_kedro ")
    assert not any("# MAGIC" in cell for cell in code_cells)


def test_paths_with_spaces_are_quoted():
    source = render_notebook(title="t", repo_path="/Workspace/Repos/me/my project", data_root="/d")
    assert "%pip install -r '/Workspace/Repos/me/my project/requirements.txt'" in source
    assert "%reload_kedro '/Workspace/Repos/me/my project' --params" in source


class Dataset:
    def __init__(self, data) -> None:
        self.data = data

    def load(self):
        if isinstance(self.data, Exception):
            raise self.data
        return self.data


def Output(data, kind="MemoryDataset"):  # noqa: N802 - reads like the class it makes
    """A free output as Kedro 1.x returns it: a dataset of class ``kind``."""
    return type(kind, (Dataset,), {})(data)


class Exited(Exception):
    pass


class ExitDbutils:
    class notebook:  # noqa: N801 - dbutils' attribute
        @staticmethod
        def exit(value):
            raise Exited(value)


def run_metrics_cell(source: str, result: dict) -> dict:
    namespace = {"dbutils": ExitDbutils(), "result": result}
    with pytest.raises(Exited) as caught:
        exec(cells(source)[7], namespace)
    return json.loads(caught.value.args[0])


def test_metrics_cell_finds_the_numbers_of_any_project(source, capsys):
    result = {
        "metrics": Output({"accuracy": 0.9, "n_train": 120, "label": "knn"}),
        "loss": Output(0.25),
        "flag": Output(True),
        "frame": Output([1, 2, 3]),
        "model_metrics": Output({"accuracy": 0.8, "r2": 0.5}, kind="JSONDataset"),
        "predictions": Output(RuntimeError("a persisted output is never read"), kind="CSVDataset"),
        "broken_metrics": Output(OSError("gone"), kind="JSONDataset"),
    }
    metrics = run_metrics_cell(source, result)
    assert metrics == {
        "loss": 0.25,
        "accuracy": 0.9,
        "n_train": 120,
        "model_metrics.accuracy": 0.8,
        "r2": 0.5,
    }
    assert "cannot read the output broken_metrics: gone" in capsys.readouterr().out


def test_metrics_cell_with_older_kedro_results_and_no_metrics(source):
    assert run_metrics_cell(source, {"accuracy": 0.5, "metrics": {"n": 3}}) == {
        "accuracy": 0.5,
        "n": 3,
    }
    assert run_metrics_cell(source, {}) == {}


def test_metrics_cell_names_metrics_as_the_local_hooks_do(source):
    """The local run's hooks must name what they find as the notebook does, so the sources of
    the exit value's metrics can be told."""
    import sys

    from bricksmith.backends.run_sandbox import HOOKS_PATH

    if str(HOOKS_PATH) not in sys.path:
        sys.path.append(str(HOOKS_PATH))
    from bricksmith_run_hooks.metrics import MetricsLog, numbers_in

    outputs = {"metrics": {"accuracy": 0.9}, "accuracy": 0.7, "scores_metrics": {"accuracy": 1}}
    log = MetricsLog()
    for name, data in outputs.items():
        log.found[name] = (numbers_in(data), "")
    names, _ = log.named()
    assert run_metrics_cell(source, {k: Output(v) for k, v in outputs.items()}) == names
