"""What the plan says about each run's catalog: runs that take turns, data no upload provides
(bricksmith.plan.catalog_notes), and the plan's warnings channel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bricksmith import api
from bricksmith.plan.catalog_notes import catalog_notes
from bricksmith.plan.planner import Action, Plan
from bricksmith.plan.saved import SavedPlan

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "versioned_iris"
IRIS_CSV = (Path(__file__).resolve().parents[2] / "src" / "bricksmith" / "starters"
            / "databricks-iris" / "{{ cookiecutter.repo_name }}" / "data" / "01_raw" / "iris.csv")
TURNS = (
    "run.baseline and run.split-70 write the same outputs ("
    "y_test → /dbfs/FileStore/iris-databricks/data/05_model_input/y_test.pkl, "
    "y_pred → /dbfs/FileStore/iris-databricks/data/07_model_output/y_pred.pkl): "
    "they run one after the other"
)

SPEC = """\
version: 1
name: iris-versioned
project:
  path: project
repo:
  remote: remote.git
  branch: main
target: local
targets:
  local:
    backend: local
    root: .bricksmith/local
data:
  - source: data
    target: {target}
runs:
{runs}
"""
TWO_RUNS = "  - name: baseline\n  - name: split-70\n    params: {train_fraction: 0.7}\n"


def versioned_iris(folder: Path, *, with_data: bool = True) -> Path:
    """The case ``versioned-outputs-parallel-runs`` project: versioned pickles on /dbfs."""
    project = folder / "project"
    shutil.copytree(FIXTURE, project)
    (project / "gitignore").rename(project / ".gitignore")
    if with_data:
        shutil.copy(IRIS_CSV, project / "data" / "01_raw" / "iris.csv")
    return project


def write_spec(folder: Path, *, runs: str = TWO_RUNS,
               target: str = "dbfs:/FileStore/iris-databricks/data") -> Path:
    spec = folder / "spec.yaml"
    spec.write_text(SPEC.format(target=target, runs=runs))
    return spec


def notes_of(spec: Path) -> list[str]:
    notes, _probes = catalog_notes(api.load(spec).spec)
    return notes


def test_runs_writing_the_same_versioned_outputs_take_turns_and_the_plan_says_so(tmp_path):
    versioned_iris(tmp_path)
    assert notes_of(write_spec(tmp_path)) == [TURNS]


def test_runs_whose_catalogs_write_elsewhere_overlap(tmp_path):
    project = versioned_iris(tmp_path)
    catalog = project / "conf" / "base" / "catalog.yml"
    catalog.write_text(catalog.read_text().replace(
        "/dbfs/FileStore/iris-databricks/data/07_model_output",
        "${runtime_params:output_root, /dbfs/FileStore/out}").replace(
        "/dbfs/FileStore/iris-databricks/data/05_model_input",
        "${runtime_params:output_root, /dbfs/FileStore/out}/model_input"))
    params = project / "conf" / "base" / "parameters.yml"
    params.write_text(params.read_text() + "output_root: /dbfs/FileStore/out\n")
    runs = ("  - name: baseline\n    params: {output_root: /dbfs/FileStore/out/baseline}\n"
            "  - name: split-70\n    params: {train_fraction: 0.7, "
            "output_root: /dbfs/FileStore/out/split-70}\n")
    assert notes_of(write_spec(tmp_path, runs=runs)) == []
    # a third run with baseline's output_root shares its outputs: those two take turns
    runs += "  - name: again\n    params: {output_root: /dbfs/FileStore/out/baseline}\n"
    assert notes_of(write_spec(tmp_path, runs=runs)) == [
        "run.baseline and run.again write the same outputs ("
        "y_test → /dbfs/FileStore/out/baseline/model_input/y_test.pkl, "
        "y_pred → /dbfs/FileStore/out/baseline/y_pred.pkl): they run one after the other"]


def test_a_dbfs_input_no_upload_provides_is_a_warning_with_the_target_that_would(tmp_path):
    """Kedro's real databricks-iris starter reads /dbfs/FileStore/iris_databricks/..., the
    guide uploads to dbfs:/FileStore/iris-databricks/data."""
    project = versioned_iris(tmp_path)
    catalog = project / "conf" / "base" / "catalog.yml"
    catalog.write_text(catalog.read_text().replace(
        "${runtime_params:data_root, /dbfs/FileStore/iris-databricks/data}",
        "/dbfs/FileStore/iris_databricks/data"))
    notes = notes_of(write_spec(tmp_path, runs="  - name: baseline\n"))
    assert notes == [
        "dataset example_iris_data reads /dbfs/FileStore/iris_databricks/data/01_raw/iris.csv, "
        "which no upload provides; data/01_raw/iris.csv is uploaded to "
        "dbfs:/FileStore/iris-databricks/data: set that data target to "
        "dbfs:/FileStore/iris_databricks/data (or point the catalog at the upload)"]


def test_a_raw_input_missing_from_the_upload_or_elsewhere_names_the_nearest_target(tmp_path):
    versioned_iris(tmp_path, with_data=False)  # data/01_raw has no iris.csv
    assert notes_of(write_spec(tmp_path, runs="  - name: baseline\n")) == [
        "dataset example_iris_data reads /dbfs/FileStore/iris-databricks/data/01_raw/iris.csv, "
        "which no upload provides: it lies under the upload target "
        "dbfs:/FileStore/iris-databricks/data, but data/01_raw/iris.csv does not exist in the "
        "project"]
    notes = notes_of(write_spec(tmp_path, runs="  - name: baseline\n    params: "
                                "{data_root: /Volumes/main/iris/raw_files}\n",
                                target="/Volumes/main/iris/files"))
    assert notes == [
        "dataset example_iris_data reads /Volumes/main/iris/raw_files/01_raw/iris.csv, which "
        "no upload provides; the nearest upload target is /Volumes/main/iris/files"]


def test_no_notes_for_a_project_that_does_not_exist_yet(tmp_path):
    spec = write_spec(tmp_path)
    (tmp_path / "project").mkdir()
    notes, probes = catalog_notes(api.load(spec).spec)
    assert notes == [] and probes == [["kind", str(tmp_path / "project" / "pyproject.toml"),
                                       "missing"]]


def test_a_catalog_kedro_cannot_load_is_said_and_its_plan_is_not_remembered(tmp_path):
    project = versioned_iris(tmp_path)
    (project / "conf" / "base" / "catalog.yml").write_text("x:\n  filepath: ${oops:\n")
    notes, probes = catalog_notes(api.load(write_spec(tmp_path)).spec)
    assert probes is None
    assert len(notes) == 1 and notes[0].startswith("the catalog of project cannot be resolved")
    assert notes[0].endswith("the project's runs run one after the other")


# -- the warnings channel ---------------------------------------------------------------------


def test_plan_warnings_are_in_its_json_and_survive_a_saved_plan():
    plan = Plan.of([Action("run.a", "create", ("never applied to this target",))], [TURNS])
    assert plan.to_json()["warnings"] == [TURNS]
    saved = SavedPlan(spec="/s.yaml", spec_sha256="0", target="local", variables={},
                      state_digest="0", plan=plan)
    again = SavedPlan.from_json(saved.to_json(), "plan.json")
    assert again.plan == plan and again.plan.notes == (TURNS,)
    older = {k: v for k, v in saved.to_json().items() if k != "warnings"}
    assert SavedPlan.from_json(older, "plan.json").plan.notes == ()
    assert plan.with_notes(["more"]).notes == (TURNS, "more")


@pytest.fixture
def cli(capsys):
    from bricksmith.cli import main

    def run(*args):
        capsys.readouterr()
        code = main(["--no-color", *map(str, args)])
        return code, capsys.readouterr().out

    return run


def test_plan_prints_warnings_under_the_actions_and_a_replay_keeps_them(tmp_path, cli,
                                                                        monkeypatch):
    import json

    versioned_iris(tmp_path)
    spec = write_spec(tmp_path)
    loads = []
    real = api.load
    monkeypatch.setattr(api, "load", lambda *a, **k: loads.append(a) or real(*a, **k))
    code, text = cli("plan", spec)
    assert code == 0 and len(loads) == 1
    lines = text.splitlines()
    assert lines[-2:] == [f"Warning: {TURNS}",
                          "Plan: 8 to create, 1 to adopt, 0 to update, 0 to resume, "
                          "0 unchanged."]  # the project exists: adopted
    # the memo replays the warnings too (a plan right after files changed, within a timestamp
    # tick, is not remembered: plan until it is)
    for _ in range(3):
        before = len(loads)
        code, replayed = cli("plan", spec)
        assert replayed == text
        if len(loads) == before:
            break
    assert len(loads) == before
    code, as_json = cli("plan", spec, "--json")
    assert len(loads) == before and json.loads(as_json)["warnings"] == [TURNS]
    out = tmp_path / "plan.json"
    assert cli("plan", spec, "--out", out)[0] == 0
    assert json.loads(out.read_text())["warnings"] == [TURNS]


def test_a_runs_engine_deadline_covers_the_runs_it_may_wait_for(tmp_path):
    versioned_iris(tmp_path)
    runs = TWO_RUNS + "  - name: long\n    timeout_minutes: 120\n"
    graph = api.load(write_spec(tmp_path, runs=runs)).graph
    budgets = (60 + 15) * 60 * 2 + (120 + 15) * 60  # each run's own, set-up margin included
    assert {graph.step(f"run.{n}").timeout_s for n in ("baseline", "split-70", "long")} == {
        budgets}
