"""The rendered Databricks notebook (SOURCE format). It is run for real in
tests/backends/test_local_runner.py; here its shape and its parameter cell."""

import importlib.util
import json
import shlex
from pathlib import Path

import pytest

import bricksmith.backends
from bricksmith.notebook import CELL_SEPARATOR, HEADER, params_widgets, render_notebook
from tests.e2e.test_run_params import STRINGS

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
    assert f'REQUIREMENTS = "{REPO}/requirements.txt"' in parts[1]
    assert 'run_line_magic("pip", "install -r " + shlex.quote(REQUIREMENTS))' in parts[1]
    assert parts[2] == ('if globals().get("requirements_missing"):\n'
                        "    dbutils.library.restartPython()")
    assert 'dbutils.widgets.text("bricksmith_params", "{}")' in parts[3]
    assert f'dbutils.widgets.text("data_root", "{DATA_ROOT}")' in parts[3]
    assert parts[4] == "# MAGIC %load_ext kedro.ipython"
    assert "from kedro.ipython import reload_kedro" in parts[5]
    assert parts[5].splitlines()[-1] == f'reload_kedro("{REPO}", None, runtime_params)'
    assert "effective_params = json.loads(json.dumps(context.params" in parts[6]
    assert "result = session.run()" in parts[7]
    assert "for output_name in sorted(result):" in parts[8]
    assert parts[8].splitlines()[-6] == "dbutils.notebook.exit(json.dumps({"


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


# Every value the k=v string used to mangle (case run-params-mangled), and more types.
MANGLED = {
    **STRINGS,
    "number": 0.7,
    "integer": 3,
    "flag": True,
    "nothing": None,
    "items": [1, "two", {"three": 3}],
    "nested": {"a": {"b": "007", "c": [0.5]}},
    "key with spaces=and,commas": "ok",
}


@pytest.mark.parametrize(
    ("params", "data_root", "expected"),
    [
        ({}, DATA_ROOT, {"data_root": DATA_ROOT}),
        (
            {"train_fraction": 0.7},
            "/tmp/dbfs/x",
            {"data_root": "/tmp/dbfs/x", "train_fraction": 0.7},
        ),
        ({"data_root": "/mine"}, DATA_ROOT, {"data_root": "/mine"}),  # the run's own wins
        (MANGLED, DATA_ROOT, {"data_root": DATA_ROOT, **MANGLED}),
    ],
)
def test_params_travel_as_json_and_arrive_unchanged(source, params, data_root, expected):
    widgets = params_widgets(params, data_root)
    assert set(widgets) == {"bricksmith_params", "data_root"}
    assert all(isinstance(v, str) for v in widgets.values())  # base_parameters are strings
    namespace = {"dbutils": FakeDbutils(widgets)}
    exec(cells(source)[3], namespace)
    assert namespace["runtime_params"] == expected
    assert json.dumps(namespace["runtime_params"]) == json.dumps(expected)  # types too


def test_the_declared_defaults_run_with_no_params(source):
    namespace = {"dbutils": FakeDbutils({})}
    exec(cells(source)[3], namespace)
    assert namespace["runtime_params"] == {"data_root": DATA_ROOT}


def test_params_that_are_not_an_object_are_refused(source):
    namespace = {"dbutils": FakeDbutils({"bricksmith_params": "[1, 2]"})}
    with pytest.raises(ValueError, match="JSON object"):
        exec(cells(source)[3], namespace)


def test_params_json_refuses_what_json_cannot_hold():
    with pytest.raises(ValueError):
        params_widgets({"x": float("nan")}, "/d")


def test_the_kernel_reads_the_cells_back(source):
    code_cells = kernel().parse_notebook(source)
    assert len(code_cells) == len(cells(source)) - 1  # the %md cell is not run
    assert code_cells[0].startswith("import importlib.metadata")
    assert code_cells[3] == "%load_ext kedro.ipython"
    assert "reload_kedro(" in code_cells[4]
    assert not any("# MAGIC" in cell for cell in code_cells)


@pytest.mark.parametrize(
    "repo", ["/Workspace/Repos/me/my project", "/W/it's \"quoted\"", "/W/back\\slash é"]
)
def test_any_repo_path_reaches_reload_kedro_unchanged(repo):
    source = render_notebook(title="t", repo_path=repo, data_root="/d")
    namespace = {}
    exec(cells(source)[1].split("\n\n\ndef ")[0], namespace)  # the imports and REQUIREMENTS
    assert namespace["REQUIREMENTS"] == repo + "/requirements.txt"
    calls = []
    namespace = {"reload_kedro": lambda path, env, params: calls.append((path, env, params)),
                 "runtime_params": {"a": "007"}}
    body = cells(source)[5].replace("from kedro.ipython import reload_kedro", "")
    exec(body, namespace)
    assert calls == [(repo, None, {"a": "007"})]


def test_effective_params_cell_reports_what_kedro_merged(source):
    class Model:
        def model_dump(self, mode):
            return {"depth": 3}

    class Context:
        params = {"train_fraction": 0.7, "model": Model(), "when": object}

    namespace = {"context": Context(), "runtime_params": {"train_fraction": 0.7}}
    exec(cells(source)[6], namespace)
    assert namespace["effective_params"]["train_fraction"] == 0.7
    assert namespace["effective_params"]["model"] == {"depth": 3}
    assert namespace["effective_params"]["when"].startswith("<class")
    assert namespace["effective_params_partial"] is False


def test_run_cell_keeps_the_runs_warnings(source, capsys):
    import warnings

    class Session:
        def run(self):
            warnings.warn("Save version '1' did not match load version '2' for X", stacklevel=1)
            warnings.warn("Save version '1' did not match load version '2' for X", stacklevel=1)
            return {"ok": 1}

    namespace = {"session": Session()}
    exec(cells(source)[7], namespace)
    assert namespace["result"] == {"ok": 1}
    assert namespace["run_warnings"] == [
        "UserWarning: Save version '1' did not match load version '2' for X"
    ]
    assert "did not match load version" in capsys.readouterr().out


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
    namespace = {
        "dbutils": ExitDbutils(),
        "result": result,
        "effective_params": {"train_fraction": 0.7},
        "effective_params_partial": False,
        "run_warnings": ["UserWarning: w"],
    }
    with pytest.raises(Exited) as caught:
        exec(cells(source)[8], namespace)
    report = json.loads(caught.value.args[0])
    assert report["effective_params"] == {"train_fraction": 0.7}
    assert report["warnings"] == ["UserWarning: w"]
    assert "effective_params_partial" not in report
    return report["metrics"]


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


class FakeShell:
    def __init__(self) -> None:
        self.magics: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str) -> None:
        self.magics.append((name, line))


class RestartDbutils:
    class library:  # noqa: N801 - dbutils' own name
        restarts = 0

        @classmethod
        def restartPython(cls) -> None:  # noqa: N802 - dbutils' own name
            cls.restarts += 1


def install_cells(repo: Path) -> tuple[FakeShell, type]:
    """Run the notebook's install and restart cells for the project at ``repo``."""
    source = render_notebook(title="t", repo_path=str(repo), data_root="/d")
    shell, dbutils = FakeShell(), RestartDbutils()
    dbutils.library.restarts = 0
    namespace = {"get_ipython": lambda: shell, "dbutils": dbutils}
    exec(cells(source)[1], namespace)
    exec(cells(source)[2], namespace)
    return shell, dbutils.library


def test_the_install_cell_installs_nothing_and_keeps_python_when_all_is_installed(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "# the project's\npytest>=7  # a comment\n-r more.txt\n--index-url https://x/simple\n"
        'only-on-windows==1; sys_platform == "win32"\n')
    (tmp_path / "more.txt").write_text("pydantic>=2\n")
    shell, library = install_cells(tmp_path)
    assert shell.magics == [] and library.restarts == 0


@pytest.mark.parametrize("line", ["surely-not-installed-pkg>=1", "pytest<1", "./src",
                                  "https://example.com/x.whl"])
def test_the_install_cell_installs_what_is_missing_then_restarts_python(tmp_path, line):
    (tmp_path / "requirements.txt").write_text("pytest\n-r extra.txt\n")
    (tmp_path / "extra.txt").write_text(line + "\n")
    shell, library = install_cells(tmp_path)
    wanted = shlex.quote(str(tmp_path / "requirements.txt"))
    assert shell.magics == [("pip", f"install -r {wanted}")]
    assert library.restarts == 1


def test_the_install_cell_checks_an_extras_dependencies(tmp_path):
    (tmp_path / "requirements.txt").write_text("pydantic[email]>=2\n")  # email-validator
    shell, _ = install_cells(tmp_path)
    assert (shell.magics == []) == _is_installed("email-validator")


def _is_installed(name: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
