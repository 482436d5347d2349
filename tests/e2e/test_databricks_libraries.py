"""Issue 19, items 2-4: on a `databricks` target (the emulator), the project's requirements are
installed on the compute once per requirement set; a re-run installs nothing and restarts
nothing, and computes what it computed before."""

from __future__ import annotations

from pathlib import Path

import pytest

from bricksmith.emulator import DEFAULT_CLUSTER_ID
from tests.e2e.conftest import emulated_state_rows
from tests.reliability.harness import REFERENCE, seed_spec


@pytest.fixture
def spec(seed, emulator, monkeypatch) -> Path:
    spec = seed_spec(seed.parent, emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    return spec


def new_runs(emulator, seen: int) -> list[dict]:
    return emulator.library_counts()["runs"][seen:]


def runs_by_name(cli, spec) -> dict[str, dict]:
    return {run["name"]: run for run in cli("status", spec, "--json").json()["runs"]}


def cluster_requirements(emulator) -> dict[str, str]:
    from databricks.sdk import WorkspaceClient

    client = WorkspaceClient(host=emulator.url, token=emulator.token)
    return {s.library.requirements: s.status.value
            for s in client.libraries.cluster_status(DEFAULT_CLUSTER_ID)}


def test_installed_once_then_a_params_rerun_installs_and_restarts_nothing(cli, spec, emulator):
    first = cli("apply", spec)
    assert first.code == 0, first.out + first.err
    counts = emulator.library_counts()
    assert counts["cluster_installs"] == {DEFAULT_CLUSTER_ID: 1}
    assert sum(r["library_installs"] for r in counts["runs"]) == 1  # one run installed it
    assert [(r["notebook_installs"], r["restarts"]) for r in counts["runs"]] == [(0, 0)] * 2
    runs = runs_by_name(cli, spec)
    for name, (n_train, accuracy) in REFERENCE.items():  # what the runs compute is unchanged
        assert runs[name]["metrics"]["n_train"] == n_train
        assert runs[name]["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert runs["split-70"]["effective_params"]["train_fraction"] == 0.7
    installed = cluster_requirements(emulator)
    assert list(installed.values()) == ["INSTALLED"]
    assert next(iter(installed)).startswith(
        f"/Workspace/Users/{emulator.user}/.bricksmith/iris-databricks/requirements/")

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    again = cli("apply", spec)
    assert again.code == 0, again.out + again.err
    rerun = new_runs(emulator, 2)
    assert len(rerun) == 2
    assert [(r["library_installs"], r["notebook_installs"], r["restarts"]) for r in rerun] \
        == [(0, 0, 0)] * 2
    assert emulator.library_counts()["cluster_installs"] == {DEFAULT_CLUSTER_ID: 1}
    rows = emulated_state_rows(spec)  # each run's record says what it asked to install
    for step in ("run.baseline", "run.split-70"):
        recorded = rows[step][1]["_requirement_set"]
        assert recorded["as_library"] and recorded["installed_before"], recorded
        assert recorded["file"] == next(iter(installed))
    runs = runs_by_name(cli, spec)
    assert runs["baseline"]["effective_params"]["train_fraction"] == 0.75
    assert runs["baseline"]["metrics"]["n_train"] == 112  # 0.75 of 150 rows
    assert runs["split-70"]["metrics"]["accuracy"] == pytest.approx(REFERENCE["split-70"][1])


def test_a_requirements_change_installs_once_and_a_restart_installs_again(cli, spec, emulator):
    assert cli("apply", spec).code == 0
    requirements = spec.parent / "iris-databricks/requirements.txt"
    requirements.write_text(requirements.read_text() + "# pinned elsewhere one day\n")
    changed = cli("apply", spec)
    assert changed.code == 0, changed.out + changed.err
    rerun = new_runs(emulator, 2)
    assert sum(r["library_installs"] for r in rerun) == 1
    assert [(r["notebook_installs"], r["restarts"]) for r in rerun] == [(0, 0)] * 2
    assert emulator.library_counts()["cluster_installs"] == {DEFAULT_CLUSTER_ID: 2}
    # the earlier set cannot leave a running cluster: it goes at the next restart
    assert sorted(cluster_requirements(emulator).values()) == ["INSTALLED",
                                                               "UNINSTALL_ON_RESTART"]

    emulator.clusters.settle(DEFAULT_CLUSTER_ID, "RESTARTING")  # nothing survives a restart
    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    after = cli("apply", spec)
    assert after.code == 0, after.out + after.err
    assert sum(r["library_installs"] for r in new_runs(emulator, 4)) == 1
    assert list(cluster_requirements(emulator).values()) == ["INSTALLED"]
    assert emulator.library_counts()["cluster_installs"] == {DEFAULT_CLUSTER_ID: 3}


@pytest.fixture
def emulator_options() -> dict:
    return {"serverless": True}


def test_serverless_runs_install_their_requirements_in_the_notebook_each_run(
        cli, seed, emulator, monkeypatch):
    """A workspace refuses a job environment on a notebook task (dbt-databricks issue 1009),
    so a serverless run's notebook installs the requirements itself, on every run."""
    spec = seed_spec(seed.parent, emulator.url)
    spec.write_text(spec.read_text().replace(f"cluster_id: {DEFAULT_CLUSTER_ID}",
                                             "serverless: true").replace(
        "target: dbfs:/FileStore/iris-databricks/data", "target: /Volumes/main/default/iris/data"))
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    first = cli("apply", spec)
    assert first.code == 0, first.out + first.err
    counts = emulator.library_counts()
    assert counts["cluster_installs"] == {} and len(counts["runs"]) == 2
    assert [(r["library_installs"], r["notebook_installs"], r["result"])
            for r in counts["runs"]] == [(0, 1, "SUCCESS")] * 2
    runs = runs_by_name(cli, spec)
    for name, (n_train, accuracy) in REFERENCE.items():  # what the runs compute is unchanged
        assert runs[name]["metrics"]["n_train"] == n_train
        assert runs[name]["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert runs["split-70"]["effective_params"]["train_fraction"] == 0.7
    recorded = emulated_state_rows(spec)["run.baseline"][1]["_requirement_set"]
    assert recorded["per_run"] and not recorded["as_library"], recorded
    assert recorded["file"].endswith("/requirements.txt")

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    again = cli("apply", spec, "-v")
    assert again.code == 0, again.out + again.err
    assert "on every run" in again.out + again.err
    rerun = new_runs(emulator, 2)
    assert [(r["library_installs"], r["notebook_installs"], r["result"]) for r in rerun] \
        == [(0, 1, "SUCCESS")] * 2  # a fresh environment each run: the notebook installs again
    runs = runs_by_name(cli, spec)
    assert runs["baseline"]["effective_params"]["train_fraction"] == 0.75
    assert runs["baseline"]["metrics"]["n_train"] == 112  # 0.75 of 150 rows
