"""mlflow.<run>: params and metrics really land in an MLflow file store, exactly once."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from bricksmith.engine.executor import execute
from bricksmith.engine.state import StateStore
from bricksmith.errors import BackendError, StepError
from bricksmith.steps.base import Step, StepContext
from bricksmith.steps.mlflow import (
    TAG_FINGERPRINT,
    TAG_RUN,
    LogToMLflow,
    effective_params,
    numeric_metrics,
    redact,
)
from tests.engine.fakes import context_factory, graph_of

MlflowClient = pytest.importorskip("mlflow.tracking").MlflowClient

RESULT = {
    "metrics": {"accuracy": 0.933, "scores": {"f1": 0.9}, "note": "text", "ok": True},
    "params": {"train_fraction": 0.7},
    "commit": "0123abcd",
    "_log": "/tmp/run.log",
}


@pytest.fixture(autouse=True)
def allow_file_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


def make_step(**overrides) -> LogToMLflow:
    settings = dict(
        run="split-70",
        workflow="iris",
        params=effective_params(
            {"train_fraction": 0.8, "model": {"depth": 3}, "db_password": "x"},
            {"train_fraction": 0.7},
        ),
        experiment=None,
        tracking_uri=None,
        backend="local",
    )
    return LogToMLflow(**{**settings, **overrides})


def context(tmp_path, fingerprint: str = "fp-1", user: str = "someone") -> StepContext:
    return StepContext(
        spec=None,
        target="local",
        backend=SimpleNamespace(user=user),
        root=tmp_path / "root",
        fingerprint=fingerprint,
    )


def client(tmp_path) -> MlflowClient:
    return MlflowClient(tracking_uri=(tmp_path / "root" / "mlruns").as_uri())


def logged_runs(tmp_path, experiment: str = "iris") -> list:
    found = client(tmp_path).get_experiment_by_name(experiment)
    return client(tmp_path).search_runs([found.experiment_id]) if found else []


def test_apply_logs_effective_params_and_metrics_to_the_target_store(tmp_path):
    step = make_step()
    out = step.apply(context(tmp_path), {"run.split-70": RESULT})
    run = client(tmp_path).get_run(out["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "split-70"
    assert run.data.params == {"train_fraction": "0.7", "model.depth": "3"}  # no password
    assert run.data.metrics == {"accuracy": 0.933, "scores.f1": 0.9}
    tags = run.data.tags
    assert tags[TAG_RUN] == "split-70" and tags[TAG_FINGERPRINT] == "fp-1"
    assert tags["mlflow.source.git.commit"] == "0123abcd"
    assert out["experiment"] == "iris" and out["tracking_uri"].startswith("file:")
    assert step.check(context(tmp_path, fingerprint=""), out) == []


def test_params_come_from_the_run_outputs_when_they_carry_project_params(tmp_path):
    result = {**RESULT, "project_params": {"train_fraction": 0.8, "seed": 3}}
    out = make_step().apply(context(tmp_path), {"run.split-70": result})
    params = client(tmp_path).get_run(out["run_id"]).data.params
    assert params == {"train_fraction": "0.7", "seed": "3"}


def test_reapply_with_the_same_fingerprint_logs_nothing_new(tmp_path):
    step = make_step()
    first = step.apply(context(tmp_path), {"run.split-70": RESULT})
    again = step.apply(context(tmp_path), {"run.split-70": RESULT})
    assert again["run_id"] == first["run_id"] and len(logged_runs(tmp_path)) == 1


def test_a_changed_fingerprint_logs_a_new_run(tmp_path):
    step = make_step()
    first = step.apply(context(tmp_path, "fp-1"), {"run.split-70": RESULT})
    second = step.apply(context(tmp_path, "fp-2"), {"run.split-70": RESULT})
    assert second["run_id"] != first["run_id"] and len(logged_runs(tmp_path)) == 2


def test_check_reports_a_deleted_run_and_apply_logs_it_again(tmp_path):
    step = make_step()
    out = step.apply(context(tmp_path), {"run.split-70": RESULT})
    client(tmp_path).delete_run(out["run_id"])
    assert step.check(context(tmp_path), out) == [f"MLflow run {out['run_id']} was deleted"]
    again = step.apply(context(tmp_path), {"run.split-70": RESULT})
    assert again["run_id"] != out["run_id"] and step.check(context(tmp_path), again) == []
    assert step.check(context(tmp_path), {}) == ["no MLflow run is recorded"]


def test_an_unfinished_run_of_an_interrupted_apply_is_replaced(tmp_path):
    step = make_step()
    c = client(tmp_path)
    leftover = c.create_run(
        c.create_experiment("iris"), tags={TAG_RUN: "split-70", TAG_FINGERPRINT: "fp-1"}
    )
    out = step.apply(context(tmp_path), {"run.split-70": RESULT})
    assert out["run_id"] != leftover.info.run_id
    assert [r.info.run_id for r in logged_runs(tmp_path)] == [out["run_id"]]


def test_engine_reapply_is_idempotent_and_a_params_change_logs_a_new_run(tmp_path):
    class Run(Step):  # stands in for run.split-70: its outputs carry the params
        key, title = "run.split-70", "run"

        def __init__(self, params):
            self.params = params

        def inputs(self):
            return {"params": self.params}

        def apply(self, ctx, upstream):
            return {"params": self.params, "metrics": {"accuracy": 0.9}, "_log": "x"}

    run, step = Run({"train_fraction": 0.7}), make_step()
    state = StateStore(tmp_path / "state.db")
    report = execute(graph_of(run, step), state, context_factory(tmp_path / "root"))
    assert report.ran == ["run.split-70", "mlflow.split-70"]
    report = execute(graph_of(run, step), state, context_factory(tmp_path / "root"))
    assert sorted(report.skipped) == ["mlflow.split-70", "run.split-70"]
    assert len(logged_runs(tmp_path)) == 1
    run.params = {"train_fraction": 0.6}
    report = execute(graph_of(run, step), state, context_factory(tmp_path / "root"))
    assert "mlflow.split-70" in report.ran and len(logged_runs(tmp_path)) == 2
    state.close()


def test_default_file_store_needs_no_opt_in(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    out = make_step().apply(context(tmp_path), {"run.split-70": RESULT})
    assert out["run_id"]


def test_databricks_targets_default_to_the_workspace_mlflow(tmp_path):
    step = make_step(backend="databricks", profile="dev")
    ctx = context(tmp_path, user="me@example.com")
    assert step.resolve_uri(ctx) == "databricks://dev"
    assert step.resolve_experiment(ctx) == "/Users/me@example.com/iris"
    assert make_step(backend="databricks").resolve_uri(ctx) == "databricks"
    assert make_step(experiment="/Shared/x").resolve_experiment(ctx) == "/Shared/x"


def test_a_plain_path_tracking_uri_is_relative_to_the_spec(tmp_path):
    ctx = context(tmp_path)
    ctx.spec = SimpleNamespace(resolve_path=lambda rel: tmp_path / rel)
    assert make_step(tracking_uri="runs").resolve_uri(ctx) == (tmp_path / "runs").as_uri()
    assert make_step(tracking_uri="sqlite:///m.db").resolve_uri(ctx) == "sqlite:///m.db"


def test_mlflow_errors_become_step_errors_without_credentials(tmp_path):
    blocker = tmp_path / "root" / "mlruns"
    blocker.parent.mkdir()
    blocker.write_text("not a folder")
    with pytest.raises(StepError, match="could not log run split-70") as caught:
        make_step().apply(context(tmp_path), {"run.split-70": RESULT})
    assert caught.value.hint
    assert redact("http://user:s3cret@host/x") == "http://***@host/x"


def test_missing_mlflow_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(BackendError, match="MLflow is not installed") as caught:
        make_step().apply(context(tmp_path), {"run.split-70": RESULT})
    assert "bricksmith[mlflow]" in caught.value.hint


def test_effective_params_and_numeric_metrics():
    assert effective_params({"a": {"b": 1, "c": [1, 2]}, "d": None}, {"a": {"b": 2}}) == {
        "a.b": "2",
        "a.c": "[1, 2]",
        "d": "null",
    }
    assert numeric_metrics({"x": 1, "y": {"z": 0.5}, "s": "no", "b": False}) == {
        "x": 1.0,
        "y.z": 0.5,
    }
