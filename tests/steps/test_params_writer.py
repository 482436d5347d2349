"""project.params written where Kedro reads it (issue 14, item 3)."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from bricksmith.errors import ProjectConfError, SpecError, StepError
from bricksmith.kedro_conf import load_parameters, read_project_conf
from bricksmith.spec import load_spec
from bricksmith.steps.base import StepContext
from bricksmith.steps.params import WriteParams

NESTED = """\
# Parameters of the iris pipeline — «commentaires» kept
train_fraction: 0.8   # share of rows used for training
random_state: 3
target_column: species

# Options of the model
model_options:
  test_size: 0.2     # share of rows held out
  random_state: 3
  features:
    - sepal_length   # première
    - petal_length
label: "Iris — setosa"
"""


def make_project(root: Path, files: dict[str, str], settings: str = "") -> Path:
    (root / "src" / "demo").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "demo"\n')
    (root / "src" / "demo" / "settings.py").write_text(textwrap.dedent(settings))
    for rel, text in {"conf/local/.gitkeep": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def context(tmp_path: Path, params: dict, previous: dict | None = None,
            allow: bool = False) -> StepContext:
    spec = {"version": 1, "name": "demo", "repo": {"remote": "demo.git"},
            "project": {"path": "demo", "params": params, "allow_new_params": allow}}
    spec_file = tmp_path / "w.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    checkpoints = []
    ctx = StepContext(spec=load_spec(spec_file), target="local", backend=None,
                      root=tmp_path / ".bricksmith", previous=dict(previous or {}),
                      checkpoint=checkpoints.append)
    ctx.checkpoints = checkpoints  # type: ignore[attr-defined]
    return ctx


def apply(tmp_path: Path, params: dict, previous: dict | None = None, allow=False) -> dict:
    step = WriteParams(params, allow_new=allow)
    ctx = context(tmp_path, params, previous, allow)
    return step.apply(ctx, {})


def test_nested_merge_keeps_siblings_comments_order_and_non_ascii(tmp_path):
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    apply(tmp_path, {"train_fraction": 0.6, "model_options": {"test_size": 0.25}})
    text = (project / "conf/base/parameters.yml").read_text()
    assert text == NESTED.replace("0.8   #", "0.6   #").replace("0.2     #", "0.25    #")
    params = load_parameters(read_project_conf(project))
    assert params["model_options"] == {
        "test_size": 0.25, "random_state": 3, "features": ["sepal_length", "petal_length"]}


def test_key_changed_in_the_file_that_defines_it(tmp_path):
    # the case params-duplicate-key: the project keeps its parameters in parameters_iris.yml
    iris = "# iris\ntrain_fraction: 0.8\nrandom_state: 3\n"
    project = make_project(tmp_path / "demo", {"conf/base/parameters_iris.yml": iris})
    outputs = apply(tmp_path, {"train_fraction": 0.6})
    assert not (project / "conf/base/parameters.yml").exists()
    assert (project / "conf/base/parameters_iris.yml").read_text() == iris.replace("0.8", "0.6")
    assert outputs["files"] == ["conf/base/parameters_iris.yml"]
    assert load_parameters(read_project_conf(project))["train_fraction"] == 0.6


def test_custom_conf_source_is_where_the_keys_go(tmp_path):
    # the case conf-source-params-ignored
    settings = 'from pathlib import Path\nCONF_SOURCE = str(Path(__file__).parent / "conf")\n'
    project = make_project(tmp_path / "demo", {
        "src/demo/conf/base/parameters.yml": "train_fraction: 0.8\n",
        "src/demo/conf/local/.gitkeep": ""}, settings)
    apply(tmp_path, {"train_fraction": 0.6, "brand_new": 1}, allow=True)
    assert not (project / "conf/base/parameters.yml").exists()
    assert yaml.safe_load((project / "src/demo/conf/base/parameters.yml").read_text()) == {
        "train_fraction": 0.6, "brand_new": 1}


def test_new_keys_go_to_the_base_parameters_yml(tmp_path):
    project = make_project(tmp_path / "demo", {
        "conf/base/parameters_iris.yml": "train_fraction: 0.8\n"})
    outputs = apply(tmp_path, {"extra": {"deep": "é"}}, allow=True)
    assert yaml.safe_load((project / "conf/base/parameters.yml").read_text()) == {
        "extra": {"deep": "é"}}
    assert outputs["originals"] == [
        {"key": ["extra", "deep"], "file": "conf/base/parameters.yml", "at": ["extra"],
         "absent": True}]


def test_unknown_key_is_refused_before_writing(tmp_path):
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    with pytest.raises(SpecError) as caught:
        apply(tmp_path, {"train_fractoin": 0.6})
    [problem] = caught.value.diagnostics
    assert problem.path == "project.params.train_fractoin"
    assert "did you mean train_fraction?" in problem.hint
    assert (project / "conf/base/parameters.yml").read_text() == NESTED


def test_removing_a_key_restores_the_projects_value(tmp_path):
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    first = apply(tmp_path, {"train_fraction": 0.6, "model_options": {"test_size": 0.25},
                             "new": {"a": 1}}, allow=True)
    assert {tuple(e["key"]): e.get("value", "absent") for e in first["originals"]} == {
        ("train_fraction",): 0.8, ("model_options", "test_size"): 0.2, ("new", "a"): "absent"}
    # the spec keeps only model_options.test_size, with another value
    second = apply(tmp_path, {"model_options": {"test_size": 0.3}}, previous=first)
    text = (project / "conf/base/parameters.yml").read_text()
    assert text == NESTED.replace("0.2     #", "0.3     #")
    assert [e["key"] for e in second["originals"]] == [["model_options", "test_size"]]
    # and nothing at all: the file is the project's own again, byte for byte
    apply(tmp_path, {}, previous=second)
    assert (project / "conf/base/parameters.yml").read_text() == NESTED


def test_plan_says_what_a_removal_restores(tmp_path):
    make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    first = apply(tmp_path, {"train_fraction": 0.6, "new": {"a": 1}}, allow=True)
    step = WriteParams({})
    reasons = step.annotate(["params.new.a: 1 → (none)", "params.train_fraction: 0.6 → (none)",
                             "params.other: 2 → 3"], first)
    assert reasons == [
        "params.new.a: 1 → (none) (new removed: the project did not have it before "
        "bricksmith set it)",
        "params.train_fraction: 0.6 → 0.8 (the project's value before bricksmith set it)",
        "params.other: 2 → 3",
    ]


def test_apply_twice_changes_nothing_and_check_sees_drift(tmp_path):
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    params = {"train_fraction": 0.6}
    first = apply(tmp_path, params)
    file = project / "conf/base/parameters.yml"
    stat = file.stat()
    second = apply(tmp_path, params, previous=first)
    assert second["originals"] == first["originals"]
    assert file.stat().st_mtime_ns == stat.st_mtime_ns  # not rewritten
    step, ctx = WriteParams(params), context(tmp_path, params, second)
    assert step.check(ctx, second) == []
    file.write_text(file.read_text().replace("random_state: 3\ntarget", "random_state: 4\ntarget"))
    assert step.check(ctx, second) == []  # another key changed: still what the spec says
    file.write_text(file.read_text().replace("0.6", "0.7"))
    assert step.check(ctx, second) == [
        "conf/base/parameters.yml: train_fraction is 0.7, the spec says 0.6"]


def test_result_refused_by_kedro_is_put_back(tmp_path):
    # a value Kedro cannot resolve (an interpolation of nothing): the step fails, the file
    # is the project's again, nothing broken reaches the commit
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    with pytest.raises(StepError, match="refused by Kedro, so they were put back") as caught:
        apply(tmp_path, {"target_column": "$${missing_key}"})
    assert "missing_key" in caught.value.message
    assert (project / "conf/base/parameters.yml").read_text() == NESTED


def test_a_project_kedro_refuses_is_not_written(tmp_path):
    project = make_project(tmp_path / "demo", {
        "conf/base/parameters.yml": "a: 1\n", "conf/base/parameters_x.yml": "a: 2\n"})
    with pytest.raises(ProjectConfError, match="Duplicate keys"):
        apply(tmp_path, {"a": 3})
    assert (project / "conf/base/parameters.yml").read_text() == "a: 1\n"


def test_failing_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StepError, match="No space left on device") as caught:
        apply(tmp_path, {"train_fraction": 0.6})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "free space" in caught.value.hint
    folder = project / "conf/base"
    assert (folder / "parameters.yml").read_text() == NESTED
    assert sorted(p.name for p in folder.iterdir()) == ["parameters.yml"]  # no temporary


def test_originals_are_checkpointed_before_any_file_changes(tmp_path, monkeypatch):
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    params = {"train_fraction": 0.6}
    ctx = context(tmp_path, params)
    seen = []

    def record(outputs):
        seen.append((outputs, (project / "conf/base/parameters.yml").read_text()))

    ctx.checkpoint = record
    WriteParams(params).apply(ctx, {})
    [(outputs, text)] = seen
    assert text == NESTED  # recorded while the file was still the project's
    assert outputs["originals"][0]["value"] == 0.8


def test_json_parameters_file(tmp_path):
    project = make_project(tmp_path / "demo", {
        "conf/base/parameters.json": json.dumps({"train_fraction": 0.8, "k": [1]})})
    apply(tmp_path, {"train_fraction": 0.6})
    assert json.loads((project / "conf/base/parameters.json").read_text()) == {
        "train_fraction": 0.6, "k": [1]}


def test_long_flow_lines_of_the_user_stay_as_they_are(tmp_path):
    feats = ", ".join(f"feature_{i:04d}" for i in range(2000))
    text = f"train_fraction: 0.8\nfeatures: {{groups: {{main: [{feats}]}}}}\nuser_key: x\n"
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": text})
    apply(tmp_path, {"train_fraction": 0.6})
    assert (project / "conf/base/parameters.yml").read_text() == text.replace("0.8", "0.6")


def test_a_record_of_an_older_bricksmith_is_checked_against_the_files(tmp_path):
    # outputs as the previous params step recorded them: no originals, no digests
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    old = time.time() - 60
    for path in [*project.rglob("*"), project]:
        os.utime(path, (old, old))
    step, ctx = WriteParams({"train_fraction": 0.8}), context(tmp_path, {"train_fraction": 0.8})
    recorded = {"file": "conf/base/parameters.yml", "sha256": "x"}
    assert step.check(ctx, recorded) == []
    probes = step.probes(ctx, recorded)
    assert ["file", str(project / "conf/base/parameters.yml")] == probes[2][:2]
    step = WriteParams({"train_fraction": 0.6})
    assert step.check(ctx, recorded) == [
        "conf/base/parameters.yml: train_fraction is 0.8, the spec says 0.6"]


def test_a_key_only_bricksmith_added_is_not_the_projects(tmp_path):
    project = make_project(tmp_path / "demo", {"conf/base/parameters.yml": NESTED})
    first = apply(tmp_path, {"new_key": 1, "train_fraction": 0.6}, allow=True)
    assert "new_key: 1" in (project / "conf/base/parameters.yml").read_text()
    # the opt-in goes: new_key is still in the file, but only because bricksmith put it there
    with pytest.raises(SpecError) as caught:
        apply(tmp_path, {"new_key": 2, "train_fraction": 0.6}, previous=first)
    assert caught.value.diagnostics[0].path == "project.params.new_key"
    assert "new_key: 1" in (project / "conf/base/parameters.yml").read_text()
