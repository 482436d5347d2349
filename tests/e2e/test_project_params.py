"""project.params written where Kedro reads it, end to end through the CLI on the local
backend (issue 14, item 3; the cases conf-source-params-ignored, params-duplicate-key and
nested-project-params): the files, the commits, and what the runs really used."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import git
import pytest

from bricksmith.starters import create_project, starter_template

pytestmark = pytest.mark.e2e

PACKAGE = "iris_databricks"
ORIGINAL = """\
# Parameters of the iris pipeline. Override any of them for one run with
# kedro run --params train_fraction=0.7 (or %reload_kedro --params train_fraction=0.7).
train_fraction: 0.8
random_state: 3
target_column: species
"""
NESTED = ORIGINAL + """
# Options of the model (nested, as spaceflights' model_options) — «gardés»
model_options:
  test_size: 0.2     # share of rows held out
  random_state: 3
  features:
    - sepal_length
    - petal_length
"""
ECHO = '''\
from kedro.pipeline import Node, Pipeline


def echo_options(options: dict) -> dict:
    """The nested parameters as the run saw them, as metrics."""
    return {"test_size": options["test_size"], "n_features": len(options["features"]),
            "options_random_state": options["random_state"]}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([Node(echo_options, "params:model_options", "echo", name="echo")])
'''
SPEC = """\
version: 1
name: iris-case
project:
  path: iris-databricks
{params}repo:
  remote: remote.git
  branch: main
target: local
targets:
  local:
    backend: local
    root: .bricksmith/local
data:
  - source: data
    target: dbfs:/FileStore/iris-databricks/data
runs:
{runs}"""


@pytest.fixture(scope="module")
def starter_project(tmp_path_factory) -> Path:
    """The built-in starter's project, created once by Kedro (copied by each test)."""
    folder = tmp_path_factory.mktemp("starter") / "iris-databricks"
    with starter_template("databricks-iris", folder.parent) as starter:
        create_project(starter, folder, project_name="iris-case",
                       log_path=folder.parent / "new.log")
    assert (folder / "conf/base/parameters.yml").read_text() == ORIGINAL
    return folder


def case(tmp_path: Path, starter_project: Path, params: str, runs: str = "  - name: baseline\n"):
    project = tmp_path / "iris-databricks"
    shutil.copytree(starter_project, project)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(params=params, runs=runs))
    return spec, project


def runs_of(cli, spec) -> dict:
    status = cli("status", spec, "--json").json()
    return {r["name"]: r for r in status["runs"]}


def committed(project: Path, path: str, ref: str = "HEAD") -> str:
    return git.Repo(project).git.show(f"{ref}:{path}")


def test_custom_conf_source_gets_the_params_and_removal_restores(cli, tmp_path, starter_project):
    spec, project = case(tmp_path, starter_project, "  params:\n    train_fraction: 0.6\n")
    conf = project / "src" / PACKAGE / "conf"
    shutil.move(project / "conf", conf)
    settings = project / "src" / PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + textwrap.dedent("""
        from pathlib import Path

        CONF_SOURCE = str(Path(__file__).parent / "conf")
    """))
    applied = cli("apply", spec)
    assert applied.code == 0, applied.out + applied.err
    rel = f"src/{PACKAGE}/conf/base/parameters.yml"
    assert (project / rel).read_text() == ORIGINAL.replace("0.8", "0.6")
    assert not (project / "conf").exists()
    assert committed(project, rel) == ORIGINAL.replace("0.8", "0.6").rstrip("\n")
    remote = git.Repo(tmp_path / "remote.git")
    assert "train_fraction: 0.6" in remote.git.show(f"main:{rel}")
    baseline = runs_of(cli, spec)["baseline"]
    assert baseline["metrics"]["train_fraction"] == 0.6 and baseline["metrics"]["n_train"] == 90

    # the key leaves the spec: the plan says what comes back, apply puts it back
    spec.write_text(spec.read_text().replace("  params:\n    train_fraction: 0.6\n", ""))
    plan = cli("plan", spec)
    assert ("params.train_fraction: 0.6 → 0.8 (the project's value before bricksmith set it)"
            in plan.out), plan.out
    assert cli("apply", spec).code == 0
    assert (project / rel).read_text() == ORIGINAL
    assert "train_fraction: 0.8" in remote.git.show(f"main:{rel}")
    baseline = runs_of(cli, spec)["baseline"]
    assert baseline["metrics"]["train_fraction"] == 0.8 and baseline["metrics"]["n_train"] == 120
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_key_is_changed_in_the_pipeline_parameters_file(cli, tmp_path, starter_project):
    spec, project = case(tmp_path, starter_project, "  params:\n    train_fraction: 0.6\n")
    base = project / "conf" / "base"
    (base / "parameters.yml").rename(base / "parameters_iris.yml")
    applied = cli("apply", spec)
    assert applied.code == 0, applied.out + applied.err
    assert not (base / "parameters.yml").exists()
    assert (base / "parameters_iris.yml").read_text() == ORIGINAL.replace("0.8", "0.6")
    assert "conf/base/parameters.yml" not in git.Repo(project).git.ls_files()
    baseline = runs_of(cli, spec)["baseline"]
    assert baseline["metrics"]["train_fraction"] == 0.6 and baseline["metrics"]["n_train"] == 90

    spec.write_text(spec.read_text().replace("  params:\n    train_fraction: 0.6\n", ""))
    assert cli("apply", spec).code == 0
    assert (base / "parameters_iris.yml").read_text() == ORIGINAL
    assert not (base / "parameters.yml").exists()
    assert runs_of(cli, spec)["baseline"]["metrics"]["n_train"] == 120


def test_nested_params_merge_key_by_key(cli, tmp_path, starter_project):
    params = "  params:\n    train_fraction: 0.8\n    model_options:\n      test_size: 0.25\n"
    runs = ("  - name: baseline\n  - name: nested-run\n"
            "    params:\n      model_options: {test_size: 0.3}\n")
    spec, project = case(tmp_path, starter_project, params, runs)
    (project / "conf/base/parameters.yml").write_text(NESTED)
    echo = project / "src" / PACKAGE / "pipelines" / "echo"
    echo.mkdir()
    (echo / "__init__.py").write_text("from .pipeline import create_pipeline  # noqa: F401\n")
    (echo / "pipeline.py").write_text(ECHO)
    applied = cli("apply", spec)
    assert applied.code == 0, applied.out + applied.err
    expected = NESTED.replace("test_size: 0.2     #", "test_size: 0.25    #")
    assert (project / "conf/base/parameters.yml").read_text() == expected
    assert committed(project, "conf/base/parameters.yml") == expected.rstrip("\n")
    runs = runs_of(cli, spec)
    for name, size in (("baseline", 0.25), ("nested-run", 0.3)):
        metrics = runs[name]["metrics"]
        assert metrics["test_size"] == size, (name, metrics)
        assert metrics["n_features"] == 2 and metrics["options_random_state"] == 3
        assert metrics["train_fraction"] == 0.8 and metrics["n_train"] == 120
