"""Acceptance (case versioned-outputs-parallel-runs): two runs of one project whose catalog
writes versioned pickles to the same /dbfs paths, applied with two steps at once on the local
backend. The plan says they take turns, and each run's metrics are its own."""

from __future__ import annotations

import pytest

from tests.plan.test_catalog_notes import TURNS, versioned_iris, write_spec

pytestmark = pytest.mark.e2e


def test_runs_sharing_versioned_dbfs_outputs_take_turns_and_keep_their_own_metrics(tmp_path,
                                                                                   cli):
    versioned_iris(tmp_path)
    spec = write_spec(tmp_path)

    planned = cli("plan", spec)
    assert f"Warning: {TURNS}" in planned.out
    assert cli("plan", spec, "--json").json()["warnings"] == [TURNS]

    applied = cli("apply", spec, "-p", "2", "-v")
    assert applied.code == 0, applied.out + applied.err
    runs = {run["name"]: run for run in cli("status", spec, "--json").json()["runs"]}
    baseline, split = runs["baseline"]["metrics"], runs["split-70"]["metrics"]
    assert (baseline["n_train"], baseline["n_test"], round(baseline["accuracy"], 4)) == (
        120, 30, 0.9333)
    assert (split["n_train"], split["n_test"], round(split["accuracy"], 4)) == (105, 45, 0.9556)

    # both runs saved a version of each output, on the emulated DBFS
    data = tmp_path / ".bricksmith/local/dbfs/FileStore/iris-databricks/data"
    for output in ("07_model_output/y_pred.pkl", "05_model_input/y_test.pkl"):
        assert len([v for v in (data / output).iterdir() if v.is_dir()]) == 2


def test_job_runs_sharing_outputs_take_turns_on_the_emulator(tmp_path, cli, emulator,
                                                             monkeypatch):
    from bricksmith.emulator import DEFAULT_CLUSTER_ID

    versioned_iris(tmp_path)
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace(
        "target: local\ntargets:\n",
        "target: emulated\ntargets:\n  emulated:\n    backend: databricks\n"
        f"    host: {emulator.url}\n    cluster_id: {DEFAULT_CLUSTER_ID}\n"
        "    root: .bricksmith/emulated\n"))
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    assert f"Warning: {TURNS}" in cli("plan", spec).out

    applied = cli("apply", spec, "-p", "2")
    assert applied.code == 0, applied.out + applied.err
    runs = {run["name"]: run for run in cli("status", spec, "--json").json()["runs"]}
    assert runs["baseline"]["metrics"]["n_train"] == 120
    assert round(runs["baseline"]["metrics"]["accuracy"], 4) == 0.9333
    assert runs["split-70"]["metrics"]["n_train"] == 105
    assert round(runs["split-70"]["metrics"]["accuracy"], 4) == 0.9556
