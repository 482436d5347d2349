"""Running notebooks locally: the real iris project through Kedro's IPython extension, and the
kernel's own behaviour (widgets, exit values, errors, timeouts) with small notebooks."""

import json
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest

from bricksmith.backends.local_runner import NotebookResult, run_notebook
from bricksmith.backends.run_sandbox import RunSandbox
from bricksmith.backends.runtime_env import ensure_environment, requirements_key
from bricksmith.errors import RunFailedError
from bricksmith.notebook import render_notebook
from bricksmith.starters import builtin_starter_path, create_project
from tests.conftest import env_cache_dir


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """A project from the built-in starter, its data on an emulated DBFS, its environment and
    its notebook."""
    root = tmp_path_factory.mktemp("iris-run")
    project = root / "Workspace" / "Repos" / "me" / "iris-databricks"
    create_project(
        builtin_starter_path("databricks-iris"),
        project,
        project_name="Iris Databricks",
        log_path=root / "scaffold.log",
    )
    data_root = root / "dbfs" / "FileStore" / "iris-databricks" / "data"
    shutil.copytree(project / "data", data_root)
    env = ensure_environment(
        project / "requirements.txt", env_cache_dir(tmp_path_factory), log_path=root / "env.log"
    )
    notebook = root / "Workspace" / "Users" / "me" / "iris-databricks.py"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(
        render_notebook(title="iris-databricks", repo_path=str(project), data_root=str(data_root))
    )
    return {"root": root, "env": env, "notebook": notebook, "data_root": data_root}


def run_iris(iris, name: str, params: dict, **widgets) -> NotebookResult:
    return run_notebook(
        iris["notebook"],
        python=iris["env"].python,
        widgets={"bricksmith_params": json.dumps(params), **widgets},
        requirements_key=iris["env"].key,
        log_path=iris["root"] / "logs" / f"{name}.log",
        workdir=iris["notebook"].parent,
        timeout=300,
    )


def test_iris_runs_are_deterministic_and_follow_the_params(iris):
    results: dict[str, NotebookResult] = {}

    def run(name, params):
        results[name] = run_iris(iris, name, params)

    # Two runs at once on the same data root: nothing is written there, nothing clobbers.
    threads = [
        threading.Thread(target=run, args=("baseline", {})),
        threading.Thread(target=run, args=("split-70", {"train_fraction": 0.7})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results["baseline-again"] = run_iris(iris, "baseline-again", {})

    metrics = {}
    for name, result in results.items():
        assert result.ok, f"{name}: {result.error}\n{result.log_tail}"
        assert result.error is None
        assert result.duration_s > 0
        report = json.loads(result.exit_value)
        metrics[name] = report["metrics"]
        assert report["effective_params"]["train_fraction"] == metrics[name]["train_fraction"]
        assert report["effective_params"]["data_root"] == str(iris["data_root"])
        log = (iris["root"] / "logs" / f"{name}.log").read_text()
        assert "Model has an accuracy of" in log
        assert "already satisfied" in log  # %pip: the environment was built from this file

    baseline, split70 = metrics["baseline"], metrics["split-70"]
    assert isinstance(baseline["accuracy"], float)
    assert 0 < baseline["accuracy"] <= 1
    assert metrics["baseline-again"] == baseline
    assert (baseline["n_train"], baseline["n_test"], baseline["train_fraction"]) == (120, 30, 0.8)
    assert (split70["n_train"], split70["n_test"], split70["train_fraction"]) == (105, 45, 0.7)
    assert split70["accuracy"] != baseline["accuracy"]
    log = (iris["root"] / "logs" / "baseline.log").read_text()
    assert f"Model has an accuracy of {baseline['accuracy']:.3f} on test data." in log


def test_missing_data_fails_with_the_error_in_the_log_tail(iris, tmp_path):
    empty = tmp_path / "dbfs-empty"
    empty.mkdir()
    result = run_iris(iris, "no-data", {}, data_root=str(empty))
    assert not result.ok
    assert result.exit_value is None
    assert "DatasetError" in result.error
    assert "iris.csv" in result.log_tail
    assert "FAILED" in result.log_tail


# The kernel's own behaviour, with small notebooks and bricksmith's Python (it has IPython).

HEADER = "# Databricks notebook source\n"
SEP = "\n# COMMAND ----------\n"


def write_notebook(path: Path, *cells: str) -> Path:
    path.write_text(HEADER + SEP.join(cells) + "\n")
    return path


def run_small(tmp_path, notebook, widgets=None, **kwargs) -> NotebookResult:
    return run_notebook(
        notebook,
        python=Path(sys.executable),
        widgets=widgets or {},
        requirements_key=kwargs.pop("requirements_key", "0" * 64),
        log_path=tmp_path / "run.log",
        workdir=tmp_path / "work",
        **kwargs,
    )


def test_widgets_markdown_and_exit_value(tmp_path):
    notebook = write_notebook(
        tmp_path / "nb.py",
        "# MAGIC %md\n# MAGIC # Title\n# MAGIC\n# MAGIC raise SystemExit('markdown is not run')",
        'dbutils.widgets.text("who", "world")\ndbutils.widgets.text("greeting", "hello")',
        "message = f\"{dbutils.widgets.get('greeting')} {dbutils.widgets.get('who')}\"",
        "# MAGIC %load_ext autoreload",
        "dbutils.notebook.exit(message)",
        "raise RuntimeError('never reached')",
    )
    started = []
    result = run_small(tmp_path, notebook, {"who": "bricksmith"}, on_start=started.append)
    assert result.ok, result.log_tail
    assert result.exit_value == "hello bricksmith"
    assert result.error is None
    assert len(started) == 1 and started[0] > 0
    log = (tmp_path / "run.log").read_text()
    assert "cell 1/5" in log and "cell 4/5" in log  # the %md cell is skipped
    assert "never reached" not in log


def test_widget_values_reach_the_notebook_but_never_its_command_line(tmp_path):
    """Widgets travel in a file: /proc/<pid>/cmdline is readable by every user."""
    value = 'secret-ish "quoted", \n multi-line é ${x} --env prod'
    notebook = write_notebook(
        tmp_path / "nb.py",
        "import json\n"
        "cmdline = open('/proc/self/cmdline', 'rb').read().decode()\n"
        "dbutils.notebook.exit(json.dumps([dbutils.widgets.get('w'), cmdline]))",
    )
    result = run_small(tmp_path, notebook, {"w": value})
    assert result.ok, result.log_tail
    got, cmdline = json.loads(result.exit_value)
    assert got == value
    assert "secret-ish" not in cmdline and "--widgets-file" in cmdline


def test_a_notebook_without_exit_succeeds_with_no_value(tmp_path):
    notebook = write_notebook(tmp_path / "nb.py", "x = 1", "print('done', x + 1)")
    result = run_small(tmp_path, notebook)
    assert result.ok
    assert result.exit_value is None
    assert "done 2" in result.log_tail


def test_a_failing_cell_is_a_result_not_an_exception(tmp_path):
    notebook = write_notebook(tmp_path / "nb.py", "x = 1", "x / 0", "print('after')")
    result = run_small(tmp_path, notebook)
    assert not result.ok
    assert result.error.startswith("cell 2: ZeroDivisionError")
    assert "ZeroDivisionError" in result.log_tail
    assert "after" not in (tmp_path / "run.log").read_text()


def test_undeclared_widget_is_an_error(tmp_path):
    notebook = write_notebook(tmp_path / "nb.py", "dbutils.widgets.get('nope')")
    result = run_small(tmp_path, notebook)
    assert not result.ok
    assert "InputWidgetNotDefined" in result.error


def test_pip_install_of_the_environments_requirements_installs_nothing(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("ipython\n")
    notebook = write_notebook(tmp_path / "nb.py", f"# MAGIC %pip install -r {requirements}")
    key = requirements_key(requirements)
    result = run_small(tmp_path, notebook, requirements_key=key)
    assert result.ok, result.log_tail
    assert "already satisfied" in result.log_tail


def test_pip_install_follows_a_change_in_an_included_file(tmp_path):
    """Case requirements-include-stale-env: the environment was keyed on the whole set; a
    file included with -r that changed since means %pip really installs."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("-r src/requirements.txt\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "requirements.txt").write_text("ipython\n")
    key = requirements_key(requirements)
    (tmp_path / "src" / "requirements.txt").write_text("ipython\n# a new line: a new set\n")
    notebook = write_notebook(tmp_path / "nb.py", f"# MAGIC %pip install -r {requirements}")
    result = run_small(tmp_path, notebook, requirements_key=key)
    assert "the run environment was built from them" not in result.log_tail
    assert "differ from the run environment" in result.log_tail
    assert "pip install -r" in result.log_tail  # pip really ran


def test_the_kernel_does_not_see_bricksmiths_backends_folder(tmp_path):
    notebook = write_notebook(
        tmp_path / "nb.py",
        "import os, sys\n"
        "kernel_dirs = [\n"
        "    p for p in sys.path if p and os.path.isfile(os.path.join(p, 'notebook_kernel.py'))\n"
        "]\n"
        "assert not kernel_dirs, kernel_dirs",
    )
    result = run_small(tmp_path, notebook)
    assert result.ok, result.log_tail


def test_timeout_kills_the_run(tmp_path):
    notebook = write_notebook(tmp_path / "nb.py", "import time\ntime.sleep(60)")
    started = []
    with pytest.raises(RunFailedError, match="timed out") as caught:
        run_small(tmp_path, notebook, timeout=3, on_start=started.append)
    assert caught.value.log_tail
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)


def test_a_kernel_that_cannot_start_raises(tmp_path):
    notebook = write_notebook(tmp_path / "nb.py", "x = 1")
    with pytest.raises(RunFailedError, match="could not start"):
        run_notebook(
            notebook,
            python=tmp_path / "no-such-python",
            widgets={},
            requirements_key="",
            log_path=tmp_path / "run.log",
            workdir=tmp_path,
        )


# The emulated cluster's surroundings: a RunSandbox.


def sandbox_in(folder: Path) -> RunSandbox:
    return RunSandbox(folder / "dbfs", folder / "Volumes", folder / "cluster" / "run")


def test_cluster_paths_in_a_project_resolve_in_the_sandbox(iris, tmp_path):
    """The built-in project reading its data from /dbfs/... (the cluster's path), unchanged:
    bricksmith's Kedro hooks map it into the sandbox's DBFS, and collect the metrics."""
    sandbox = RunSandbox(iris["root"] / "dbfs", tmp_path / "Volumes", tmp_path / "work")
    result = run_notebook(
        iris["notebook"],
        python=iris["env"].python,
        widgets={"data_root": "/dbfs/FileStore/iris-databricks/data"},
        requirements_key=iris["env"].key,
        log_path=tmp_path / "run.log",
        workdir=iris["notebook"].parent,
        timeout=300,
        sandbox=sandbox,
    )
    assert result.ok, f"{result.error}\n{result.log_tail}"
    exit_metrics = json.loads(result.exit_value)["metrics"]
    assert result.collected["metrics"] == exit_metrics
    assert set(result.collected["sources"].values()) == {"free output 'metrics'"}
    assert "catalog path(s) on DBFS/volumes mapped" in (tmp_path / "run.log").read_text()


def test_a_log_call_whose_arguments_do_not_fit_keeps_its_line(tmp_path):
    notebook = write_notebook(
        tmp_path / "nb.py",
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(message)s')\n"
        "logging.getLogger('node').info('Model has an accuracy of %.3f on test data.', [0.93])\n"
        "logging.getLogger('node').info('fine %d', 3)",
    )
    result = run_small(tmp_path, notebook)
    assert result.ok, result.log_tail
    log = (tmp_path / "run.log").read_text()
    assert (
        "Model has an accuracy of %.3f on test data. (log arguments that do not fit the format, "
        "TypeError: must be real number, not list: ([0.93],))" in log
    )
    assert "fine 3" in log
    assert "Logging error" not in log


GUARD_PROBE = Path("/dbfs/bricksmith-guard-test")


@pytest.fixture
def probe_cleanup():
    existed = Path("/dbfs").exists()
    yield
    shutil.rmtree(GUARD_PROBE, ignore_errors=True)  # only if the guard failed
    if not existed and Path("/dbfs").is_dir() and not any(Path("/dbfs").iterdir()):
        Path("/dbfs").rmdir()


def test_the_sandbox_refuses_writes_to_the_machines_dbfs(tmp_path, probe_cleanup):
    notebook = write_notebook(
        tmp_path / "nb.py",
        "import os, tempfile\n"
        "for path in ('/dbfs/bricksmith-guard-test/x', '/FileStore/x', '/Volumes/c/s/v/x'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except PermissionError as error:\n"
        "        print('refused', error.filename)\n"
        "try:\n"
        "    os.makedirs('/dbfs/bricksmith-guard-test/deep', exist_ok=True)\n"
        "except PermissionError as error:\n"
        "    print('refused', error.filename)\n"
        "dbfs = os.environ['BRICKSMITH_DBFS_ROOT']\n"
        "os.makedirs(dbfs + '/FileStore', exist_ok=True)\n"
        "open(dbfs + '/FileStore/ok.txt', 'w').write('fine')\n"
        "print('temp', tempfile.gettempdir())",
    )
    sandbox = sandbox_in(tmp_path)
    result = run_small(tmp_path, notebook, sandbox=sandbox)
    assert result.ok, result.log_tail
    log = (tmp_path / "run.log").read_text()
    for path in ("/dbfs/bricksmith-guard-test/x", "/FileStore/x", "/Volumes/c/s/v/x"):
        assert f"refused {path}" in log
    assert "refused /dbfs" in log  # makedirs stops at the first folder it would create
    assert not GUARD_PROBE.exists()
    assert (tmp_path / "dbfs/FileStore/ok.txt").read_text() == "fine"
    assert f"temp {sandbox.work / 'tmp'}" in log
    assert result.collected is None  # no Kedro run, no metrics file


def test_without_a_sandbox_nothing_is_guarded_or_mapped(tmp_path):
    notebook = write_notebook(
        tmp_path / "nb.py",
        "import os, sys\n"
        "assert 'BRICKSMITH_DBFS_ROOT' not in os.environ\n"
        "assert not any(p.endswith('kedro_run') for p in sys.path)",
    )
    result = run_small(tmp_path, notebook)
    assert result.ok, result.log_tail
