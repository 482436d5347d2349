"""Unknown parameter names are refused at plan time (issue 14, item 1)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bricksmith import api
from bricksmith.errors import ProjectConfError, SpecError
from bricksmith.plan import memo
from tests.test_kedro_conf import make_project

PARAMS = """\
train_fraction: 0.8
random_state: 3
model_options:
  test_size: 0.2
  features: [a, b]
"""

SPEC = """\
version: 1
name: demo
project:
  path: demo
  params:
    train_fraction: 0.6
repo: {remote: demo.git}
runs:
  - name: baseline
  - name: split
    params:
      model_options:
        test_size: 0.3
"""


def write(tmp_path: Path, spec: str, params: str = PARAMS) -> Path:
    make_project(tmp_path / "demo", files={"conf/base/parameters.yml": params})
    path = tmp_path / "w.yaml"
    path.write_text(spec)
    return path


def problems(spec: Path) -> list:
    with pytest.raises(SpecError) as caught:
        api.load(spec).plan()
    return caught.value.diagnostics


def test_known_names_plan(tmp_path):
    plan = api.load(write(tmp_path, SPEC)).plan()
    assert plan.summary["create"] > 0


def test_unknown_project_key_has_position_and_did_you_mean(tmp_path):
    spec = write(tmp_path, SPEC.replace("    train_fraction: 0.6", "    train_fractoin: 0.6"))
    [problem] = problems(spec)
    assert (problem.file, problem.line, problem.column) == (str(spec), 6, 5)
    assert problem.path == "project.params.train_fractoin"
    assert "defines no parameter train_fractoin" in problem.message
    assert "conf/base/parameters.yml" in problem.message
    assert problem.hint.startswith("did you mean train_fraction?")
    assert "allow_new_params: true on project" in problem.hint
    assert f"{spec}:6:5: project.params.train_fractoin" in problem.render()


def test_nested_run_key_is_checked_at_every_level(tmp_path):
    spec = write(tmp_path, SPEC.replace("test_size: 0.3", "test_sise: 0.3"))
    [problem] = problems(spec)
    assert problem.path == "runs[1].params.model_options.test_sise"
    assert (problem.line, problem.column) == (13, 9)
    assert problem.hint.startswith("did you mean model_options.test_size?")
    assert "on run split" in problem.hint


def test_every_unknown_key_is_listed_once(tmp_path):
    spec = write(tmp_path, SPEC.replace("    train_fraction: 0.6", "    nope: {deep: 1}")
                 .replace("model_options:", "model_optoins:"))
    found = problems(spec)
    assert [p.path for p in found] == ["project.params.nope", "runs[1].params.model_optoins"]


def test_a_mapping_inside_a_plain_value_is_refused(tmp_path):
    spec = write(tmp_path, SPEC.replace("    train_fraction: 0.6", "    random_state: {a: 1}"))
    [problem] = problems(spec)
    assert "random_state is a int (3), not a mapping" in problem.message


def test_opt_in_allows_new_keys_and_runs_see_them(tmp_path):
    spec = write(tmp_path, SPEC.replace("    train_fraction: 0.6", "    new_key: 1")
                 .replace("  path: demo\n", "  path: demo\n  allow_new_params: true\n")
                 .replace("  - name: baseline\n", "  - name: baseline\n    params: {new_key: 2}\n"))
    api.load(spec).plan()
    spec.write_text(spec.read_text().replace("test_size: 0.3", "brand_new: 1"))
    [problem] = problems(spec)
    assert problem.path == "runs[1].params.model_options.brand_new"
    spec.write_text(spec.read_text().replace(
        "  - name: split\n", "  - name: split\n    allow_new_params: true\n"))
    api.load(spec).plan()


def test_no_project_yet_means_no_check_at_plan(tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text(SPEC.replace("train_fraction", "train_fractoin"))
    workflow = api.load(spec)
    assert workflow.check_params() == [["kind", str(tmp_path / "demo" / "pyproject.toml"),
                                        "missing"]]
    workflow.plan()


def test_a_project_kedro_refuses_is_refused_at_plan(tmp_path):
    spec = write(tmp_path, SPEC)
    (tmp_path / "demo/conf/base/parameters_iris.yml").write_text("train_fraction: 0.7\n")
    with pytest.raises(ProjectConfError) as caught:
        api.load(spec).plan()
    assert "Duplicate keys" in caught.value.message
    assert "parameters_iris.yml" in caught.value.message


def test_the_plan_memo_watches_the_parameters_files(tmp_path, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_PLAN_MEMO", "1")
    spec = write(tmp_path, SPEC)
    old = time.time() - 60  # out of the racy window: observed files are trusted
    for path in [*(tmp_path / "demo").rglob("*"), tmp_path / "demo"]:
        os.utime(path, (old, old))
    api.load(spec).plan()
    replay = lambda: memo.replay(spec, requested_target=None, variables={},  # noqa: E731
                                 environ=os.environ)
    assert replay() is not None
    params = tmp_path / "demo/conf/base/parameters.yml"
    params.write_text(PARAMS.replace("train_fraction", "train_share"))
    assert replay() is None
    with pytest.raises(SpecError, match="train_fraction"):
        api.load(spec).plan()
    # a new parameters file in the base environment is seen too
    params.write_text(PARAMS)
    for path in [params, params.parent]:
        os.utime(path, (old, old))
    api.load(spec).plan()
    assert replay() is not None
    (params.parent / "parameters_x.yml").write_text("train_fraction: 0.9\n")
    assert replay() is None


def test_names_the_config_reads_as_runtime_params_are_known_to_runs(tmp_path):
    spec = write(tmp_path, SPEC.replace(
        "  - name: baseline\n", "  - name: baseline\n    params: {data_root: /tmp/x}\n"))
    catalog = tmp_path / "demo/conf/base/catalog.yml"
    catalog.write_text("iris:\n  type: pandas.CSVDataset\n"
                       "  filepath: ${runtime_params:data_root, /dbfs/FileStore/d}/iris.csv\n")
    api.load(spec).plan()
    catalog.unlink()
    [problem] = problems(spec)
    assert problem.path == "runs[0].params.data_root"


def test_a_dotted_key_is_told_to_be_nested(tmp_path):
    dotted = SPEC.replace("    train_fraction: 0.6", "    model_options.test_size: 1")
    spec = write(tmp_path, dotted)
    [problem] = problems(spec)
    assert problem.path == 'project.params["model_options.test_size"]'
    assert problem.hint == ("model_options.test_size is a nested parameter: write it as a "
                            "mapping, model_options: {test_size: ...} (a dotted key is one "
                            "literal key in YAML)")


def test_recorded_changes_are_undone_before_the_check(tmp_path):
    from bricksmith.param_names import check_spec_params

    spec = write(tmp_path, SPEC, PARAMS + "added: 1\n")
    workflow = api.load(spec)
    check_spec_params(workflow.spec)  # 'added' is in the file
    runs_use_it = SPEC.replace("test_size: 0.3", "test_size: 0.3\n        x: 1").replace(
        "  - name: baseline\n", "  - name: baseline\n    params: {added: 2}\n")
    spec.write_text(runs_use_it)
    added = [{"key": ["added"], "file": "conf/base/parameters.yml", "at": ["added"],
              "absent": True}]
    with pytest.raises(SpecError) as caught:
        check_spec_params(api.load(spec).spec, originals=added)
    assert [d.path for d in caught.value.diagnostics] == [
        "runs[0].params.added", "runs[1].params.model_options.x"]
