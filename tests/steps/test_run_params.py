"""run.<name>: the params a run asks for, what Kedro used (the notebook's exit value), and a
run that ran with other values fails naming the key, both values and the file that won."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from bricksmith.backends.base import RunOutcome
from bricksmith.errors import RunFailedError, StepError
from bricksmith.run_params import (
    compare,
    deep_merge,
    defining_file,
    effective_of,
    read_exit_value,
    same_value,
)
from bricksmith.spec.models import LocalTarget
from bricksmith.steps.base import StepContext
from bricksmith.steps.run import RunNotebook


def test_deep_merge_merges_mappings_key_by_key_and_replaces_the_rest():
    base = {"model": {"lr": 0.1, "depth": 3}, "tags": [1, 2], "seed": 3}
    over = {"model": {"lr": 0.5}, "tags": [9], "new": {"a": 1}}
    assert deep_merge(base, over) == {
        "model": {"lr": 0.5, "depth": 3}, "tags": [9], "seed": 3, "new": {"a": 1}
    }
    assert base["model"] == {"lr": 0.1, "depth": 3}  # inputs untouched


@pytest.mark.parametrize(
    ("asked", "got", "same"),
    [
        ("007", 7, False), ("yes", True, False), ("null", None, False), ("", None, False),
        (1, True, False), (0.7, 0.7, True), (1, 1.0, True), ([1, "a"], [1, "a"], True),
        ([1], [1, 2], False), ({"a": 1}, {"a": 1}, True), ("a # b", "a", False),
    ],
)
def test_same_value_keeps_types_apart(asked, got, same):
    assert same_value(asked, got) is same


def test_compare_names_every_differing_key_at_every_level():
    asked = {"train_fraction": 0.7, "model": {"lr": 0.1, "opt": {"name": "adam"}}, "label": "007"}
    effective = {"train_fraction": 0.7, "model": {"lr": 0.2, "opt": {"name": "adam"}, "x": 1},
                 "label": 7, "other": 1}
    found = compare(asked, effective)
    assert [(".".join(m.path), m.asked, m.got) for m in found] == [
        ("model.lr", 0.1, 0.2), ("label", "007", 7)
    ]
    assert found[1].describe("conf/local/parameters.yml") == (
        'label: asked "007", Kedro used 7 (the value is set in conf/local/parameters.yml)'
    )
    missing = compare({"nope": 1}, {})
    assert missing[0].missing
    assert missing[0].describe() == "nope: asked 1, Kedro used no such parameter"


def test_values_kedro_resolves_itself_are_not_compared():
    asked = {"path": "${runtime_params:data_root}/x", "n": 1}
    assert compare(asked, {"path": "/dbfs/x", "n": 1}) == []


def test_effective_of_keeps_only_the_asked_keys():
    asked = {"model": {"lr": 0.1}, "seed": 3}
    effective = {"model": {"lr": 0.1, "depth": 9}, "seed": 3, "huge": list(range(100))}
    assert effective_of(asked, effective) == {"model": {"lr": 0.1}, "seed": 3}


def test_exit_value_new_and_old_shapes():
    new = read_exit_value(json.dumps(
        {"metrics": {"accuracy": 0.9}, "effective_params": {"a": 1}, "warnings": ["W: x"]}
    ))
    assert (new.metrics, new.effective_params, new.warnings, new.partial) == (
        {"accuracy": 0.9}, {"a": 1}, ("W: x",), False
    )
    old = read_exit_value('{"accuracy": 0.9, "metrics": 3}')  # a plain metrics object
    assert old.metrics == {"accuracy": 0.9, "metrics": 3} and old.effective_params is None
    for junk in (None, "", "not json", "[1]"):
        assert read_exit_value(junk) == read_exit_value(None)
        assert read_exit_value(junk).metrics == {}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_defining_file_is_the_environment_that_wins(tmp_path):
    write(tmp_path / "conf/base/parameters.yml", "train_fraction: 0.8\nmodel: {lr: 0.1}\n")
    write(tmp_path / "conf/base/parameters/model.yml", "model_extra: {depth: 3}\n")
    assert defining_file(tmp_path, ("train_fraction",)) == "conf/base/parameters.yml"
    assert defining_file(tmp_path, ("model_extra", "depth")) == "conf/base/parameters/model.yml"
    assert defining_file(tmp_path, ("nope",)) is None
    write(tmp_path / "conf/local/parameters.yml", "model: {lr: 0.9}\n")
    assert defining_file(tmp_path, ("model", "lr")) == "conf/local/parameters.yml"
    assert defining_file(tmp_path, ("train_fraction",)) == "conf/base/parameters.yml"
    # with the value Kedro used: the file holding it, in whichever environment
    write(tmp_path / "conf/prod/parameters_model.yml", "model: {lr: 0.5}\n")
    assert defining_file(tmp_path, ("model", "lr"), 0.5) == "conf/prod/parameters_model.yml"
    assert defining_file(tmp_path, ("model", "lr"), 0.1) == "conf/base/parameters.yml"
    assert defining_file(tmp_path, ("model", "lr"), 7) is None


# -- the step ------------------------------------------------------------------------------------


class FakeBackend:
    def __init__(self, exit_value):
        self.exit_value = exit_value
        self.widgets = None

    def run_notebook(self, **kwargs):
        self.widgets = kwargs["widgets"]
        return RunOutcome(ok=True, exit_value=self.exit_value, log_path="run.log")


def apply(tmp_path, params, project_params, exit_value):
    spec = SimpleNamespace(
        workflow=SimpleNamespace(project=SimpleNamespace(params=project_params), name="w",
                                 data=[], runs=[], targets={"local": LocalTarget()}),
        project_dir=tmp_path / "project",
    )
    backend = FakeBackend(exit_value)
    logged = []
    ctx = StepContext(spec=spec, target="local", backend=backend, root=tmp_path, log=logged.append)
    step = RunNotebook(name="split-70", params=params, timeout_minutes=1, data_steps=())
    upstream = {
        "workspace.repo": {"path": "/repo", "commit": "abc"},
        "notebook.deploy": {"path": "/nb", "data_root": "/dbfs/d"},
    }
    return step.apply(ctx, upstream), backend, logged


def report(effective, warnings=()):
    return json.dumps({"metrics": {"accuracy": 0.9}, "effective_params": effective,
                       "warnings": list(warnings)})


def test_a_run_that_got_its_params_records_them(tmp_path):
    params = {"train_fraction": 0.7, "label": "007", "model": {"lr": 0.5}}
    effective = {"train_fraction": 0.7, "label": "007", "model": {"lr": 0.5, "depth": 3},
                 "seed": 3, "data_root": "/dbfs/d"}
    warning = "UserWarning: Save version 'a' did not match load version 'b' for X"
    out, backend, logged = apply(
        tmp_path, params, {"seed": 3, "model": {"depth": 3}}, report(effective, [warning])
    )
    assert json.loads(backend.widgets["bricksmith_params"]) == params
    assert backend.widgets["data_root"] == "/dbfs/d"
    assert out["effective_params"] == {
        "seed": 3, "model": {"depth": 3, "lr": 0.5}, "train_fraction": 0.7, "label": "007"
    }
    assert out["metrics"] == {"accuracy": 0.9}
    assert out["warnings"] == [warning]
    assert f"run split-70 warned: {warning}" in logged


def test_a_run_kedro_gave_other_values_fails_naming_key_values_and_file(tmp_path):
    write(tmp_path / "project/conf/local/parameters.yml", "model:\n  depth: 5\n")
    effective = {"train_fraction": 0.7, "model": {"depth": 5}}
    with pytest.raises(RunFailedError) as caught:
        apply(tmp_path, {"train_fraction": 0.7}, {"model": {"depth": 3}}, report(effective))
    message = caught.value.message
    assert "model.depth: asked 3, Kedro used 5" in message
    assert "conf/local/parameters.yml" in message


def test_an_older_notebook_without_effective_params_still_records_metrics(tmp_path):
    out, _, logged = apply(tmp_path, {"a": 1}, {}, '{"accuracy": 0.5}')
    assert out["metrics"] == {"accuracy": 0.5} and out["effective_params"] is None
    assert any("did not report the parameters" in line for line in logged)


def test_params_json_cannot_hold_are_refused_before_running(tmp_path):
    with pytest.raises(StepError, match="cannot be passed as JSON"):
        apply(tmp_path, {"x": float("inf")}, {}, report({}))


def test_a_run_record_without_its_result_is_run_again():
    """Found by the reliability suite: a run record emptied to {} was taken as done (plan
    said "No changes", runs showed no metrics, the run never ran again)."""
    step = RunNotebook(name="baseline", params={}, timeout_minutes=1, data_steps=())
    assert step.check(None, {"metrics": {"accuracy": 0.9}, "commit": "abc"}) == []
    assert step.check(None, {}) == [
        "its record holds no result (metrics, commit missing): the run runs again"]
