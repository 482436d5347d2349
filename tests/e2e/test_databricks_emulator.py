"""The seed workflow on a `databricks` target whose host is the emulator: the real
databricks-sdk over HTTP, against workspace, repos, DBFS and job runs that really happen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest

from bricksmith.emulator import DEFAULT_CLUSTER_ID, FaultPolicy
from tests.e2e.conftest import emulated_state_rows
from tests.reliability.harness import seed_spec

SUBMIT = "POST /api/2.2/jobs/runs/submit"
@pytest.fixture
def spec(seed, emulator, monkeypatch) -> Path:
    """specs/iris.yaml with its target pointed at the emulator; the SDK's token in the env."""
    spec = seed_spec(seed.parent, emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    return spec


def calls(emulator, method: str, prefix: str) -> int:
    """Processed calls of ``method`` on paths starting with ``prefix``."""
    return sum(n for key, n in emulator.calls.items() if key.startswith(f"{method} {prefix}"))


def credentials(emulator) -> list:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    client = WorkspaceClient(config=Config(host=emulator.url, token=emulator.token))
    return list(client.git_credentials.list())


def runs_by_name(cli, spec):
    return {run["name"]: run for run in cli("status", spec, "--json").json()["runs"]}


def test_apply_noop_change_and_partial_reapply_through_the_sdk(cli, spec, emulator):
    assert emulator.cluster_state() == "TERMINATED"
    first = cli("apply", spec)
    assert first.code == 0, first.out + first.err
    assert emulator.calls[SUBMIT] == 2
    assert emulator.cluster_state() == "RUNNING"  # started first
    assert emulator.calls["POST /api/2.1/clusters/start"] == 1

    runs = runs_by_name(cli, spec)
    assert runs["baseline"]["metrics"]["n_train"] == 120
    assert runs["split-70"]["metrics"]["n_train"] == 105
    assert runs["baseline"]["run_page_url"].startswith(emulator.url)
    user = emulator.user
    clone = emulator.root / f"Workspace/Repos/{user}/iris-databricks"
    remote = git.Repo(spec.parent / "iris-databricks.git")
    assert git.Repo(clone).head.commit.hexsha == remote.commit("main").hexsha
    assert (emulator.root / "dbfs/FileStore/iris-databricks/data/01_raw/iris.csv").is_file()
    assert not list((emulator.root / "dbfs").rglob("*bricksmith-tmp*"))
    assert (emulator.root / f"Workspace/Users/{user}/.bricksmith/iris-databricks/run.py")\
        .read_text().startswith("# Databricks notebook source")

    assert cli("plan", spec, "--detailed-exitcode").code == 0
    assert emulator.calls[SUBMIT] == 2

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    plan = cli("plan", spec, "--json").json()
    changed = {a["step"] for a in plan["actions"] if a["action"] != "noop"}
    assert changed == {"project.params", "git.commit", "git.push", "workspace.repo",
                       "run.baseline", "run.split-70"}
    again = cli("apply", spec)
    assert again.code == 0, again.out + again.err
    assert "= data.upload[0] up to date" in again.out
    assert emulator.calls[SUBMIT] == 4
    assert git.Repo(clone).head.commit.hexsha == remote.commit("main").hexsha
    assert len(list(remote.iter_commits("main"))) == 2
    assert runs_by_name(cli, spec)["baseline"]["metrics"]["n_train"] == 105
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_an_apply_killed_while_waiting_re_attaches_to_its_job_runs(cli, spec, emulator):
    emulator.jobs.run_delay_s = 4.0  # runs stay RUNNING a while: time to kill the apply
    apply = subprocess.Popen(
        [sys.executable, "-m", "bricksmith.cli", "--no-color", "apply", str(spec)],
        cwd=spec.parent, env=os.environ.copy(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = emulated_state_rows(spec)
            outputs = [rows.get(f"run.{n}", ("", {}))[1] for n in ("baseline", "split-70")]
            if all("_run_id" in recorded for recorded in outputs):
                break
            assert apply.poll() is None, "the apply ended before its runs were submitted"
            time.sleep(0.1)
        else:
            pytest.fail("the runs were never submitted")
        apply.send_signal(signal.SIGKILL)
        apply.wait(10)
    finally:
        if apply.poll() is None:
            apply.kill()
    assert emulator.calls[SUBMIT] == 2
    rows = emulated_state_rows(spec)
    assert rows["run.baseline"][0] == "running"

    plan = {a["step"]: a for a in cli("plan", spec, "--json").json()["actions"]}
    assert plan["run.baseline"]["action"] == "resume"
    resumed = cli("apply", spec, "-v")
    assert resumed.code == 0, resumed.out + resumed.err
    assert "re-attaching to job run" in resumed.out
    assert emulator.calls[SUBMIT] == 2  # no second submission
    runs = runs_by_name(cli, spec)
    assert runs["baseline"]["metrics"]["n_train"] == 120


def test_a_failing_job_run_shows_its_error_and_runs_again_next_time(cli, spec, emulator):
    spec.write_text(spec.read_text().replace(
        "params: {train_fraction: 0.7}", "params: {train_fraction: 0.7, target_column: nope}"))
    failed = cli("apply", spec)
    assert failed.code == 1 and "Traceback (most recent call last)" not in failed.err.split(
        "last lines of its log")[0]
    assert "step run.split-70 failed" in failed.err and "nope" in failed.err
    runs = runs_by_name(cli, spec)
    assert runs["split-70"]["status"] == "failed" and runs["baseline"]["status"] == "succeeded"
    assert "nope" in Path(runs["split-70"]["log"]).read_text()
    assert emulator.calls[SUBMIT] == 2

    spec.write_text(spec.read_text().replace(", target_column: nope", ""))
    fixed = cli("apply", spec)
    assert fixed.code == 0, fixed.err
    assert emulator.calls[SUBMIT] == 3  # only the failed run, submitted anew
    assert runs_by_name(cli, spec)["split-70"]["metrics"]["n_train"] == 105


def test_transient_faults_are_retried_without_duplicate_side_effects(cli, spec, emulator):
    emulator.set_faults(FaultPolicy(rate=0.2, seed=7, retry_after_s=0, drop_after_rate=0.5))
    result = cli("apply", spec)
    assert result.code == 0, result.out + result.err
    assert emulator.faults_injected > 5
    assert emulator.calls[SUBMIT] >= 2
    assert len(emulator.runs) == 2  # idempotency tokens: one run per run step
    assert emulator.calls["POST /api/2.0/repos"] == 1
    assert not list((emulator.root / "dbfs").rglob("*bricksmith-tmp*"))
    source = spec.parent / "iris-databricks/data"
    landed = emulator.root / "dbfs/FileStore/iris-databricks/data"
    for file in source.rglob("*"):
        if file.is_file():
            assert (landed / file.relative_to(source)).read_bytes() == file.read_bytes()
    runs = runs_by_name(cli, spec)
    assert {r["status"] for r in runs.values()} == {"succeeded"}


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_a_wrong_or_missing_token_fails_before_anything_changes(cli, spec, emulator, monkeypatch,
                                                                token):
    if token is None:
        monkeypatch.delenv("DATABRICKS_TOKEN")
    else:
        monkeypatch.setenv("DATABRICKS_TOKEN", token)
    result = cli("apply", spec)
    assert result.code == 1
    assert f"host {emulator.url}" in result.err and "Traceback" not in result.err
    assert "DATABRICKS_TOKEN" in result.err
    assert not (spec.parent / "iris-databricks").exists()
    assert not (spec.parent / ".bricksmith").exists()


def test_git_credential_from_token_env_is_set_up_once_and_never_written(cli, spec, emulator,
                                                                         monkeypatch):
    secret = "ghp_s3cr3t-token-value-0123456789"
    monkeypatch.setenv("IRIS_GIT_TOKEN", secret)
    text = spec.read_text().replace("branch: main\n", "branch: main\n  token_env: IRIS_GIT_TOKEN\n")
    spec.write_text(text.split("runs:")[0])  # no runs: this test is about the repo
    first = cli("apply", spec, "-v")
    assert first.code == 0, first.err
    assert len(credentials(emulator)) == 1
    monkeypatch.setenv("IRIS_GIT_TOKEN", secret + "-rotated")
    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    second = cli("apply", spec, "-v")
    assert second.code == 0, second.err
    assert len(credentials(emulator)) == 1  # updated, not a second one
    assert calls(emulator, "PATCH", "/api/2.0/git-credentials/") >= 1

    written = [first.out, first.err, second.out, second.err,
               cli("status", spec, "--json").out, cli("plan", spec).out]
    folder = spec.parent
    written += [p.read_bytes().decode(errors="replace") for p in folder.rglob("*") if p.is_file()]
    written += [p.read_bytes().decode(errors="replace") for p in emulator.root.rglob("*")
                if p.is_file()]
    assert not [w for w in written if secret in w]


@pytest.mark.parametrize("emulator_options", [{"forbidden_paths": ["/FileStore"]}])
def test_a_forbidden_path_is_a_clear_permission_error(cli, spec, emulator):
    result = cli("apply", spec)
    assert result.code == 1
    assert "step data.upload[0] failed" in result.err and "not allowed to" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("emulator_options", [{"serverless": True}])
def test_data_to_a_unity_catalog_volume_lands_whole_and_syncs_incrementally(cli, spec, emulator):
    text = spec.read_text().replace(
        "target: dbfs:/FileStore/iris-databricks/data", "target: /Volumes/main/default/iris/data"
    ).replace(f"    cluster_id: {DEFAULT_CLUSTER_ID}\n", "    serverless: true\n")  # no cluster
    spec.write_text(text.split("runs:")[0] + "runs:\n  - name: baseline\n")
    first = cli("apply", spec)
    assert first.code == 0, first.err
    landed = emulator.root / "Volumes/main/default/iris/data/01_raw/iris.csv"
    assert landed.read_text().count("\n") == 151
    runs = runs_by_name(cli, spec)
    assert runs["baseline"]["metrics"]["n_train"] == 120  # the run read the volume
    assert emulator.cluster_state() == "TERMINATED"  # serverless: the cluster was not used
    puts = calls(emulator, "PUT", "/api/2.0/fs/files/")

    raw = spec.parent / "iris-databricks/data/01_raw/iris.csv"
    raw.write_text(raw.read_text() + "5.0,3.0,1.5,0.2,setosa\n")
    plan = {a["step"]: a for a in cli("plan", spec, "--json").json()["actions"]}
    assert plan["data.upload[0]"]["reasons"] == ["source file changed: 01_raw/iris.csv"]
    assert cli("apply", spec).code == 0
    assert calls(emulator, "PUT", "/api/2.0/fs/files/") == puts + 1  # only the changed file
    assert landed.read_text().count("\n") == 152


def test_temp_files_of_a_killed_upload_are_drift_and_cleaned(cli, spec, emulator):
    spec.write_text(spec.read_text().split("runs:")[0])
    assert cli("apply", spec).code == 0
    data = emulator.root / "dbfs/FileStore/iris-databricks/data/01_raw"
    leftover = data / "iris.csv.bricksmith-tmp-0123abcd"
    leftover.write_text("half a fi")
    plan = {a["step"]: a for a in cli("plan", spec, "--json").json()["actions"]}
    assert plan["data.upload[0]"]["reasons"] == [
        "temporary files of an interrupted upload: 01_raw/iris.csv.bricksmith-tmp-0123abcd"
    ]
    assert cli("apply", spec).code == 0
    assert not leftover.exists() and (data / "iris.csv").is_file()


def test_a_resizing_cluster_is_waited_for_then_runs(cli, spec, emulator, monkeypatch):
    from bricksmith.backends.databricks import DatabricksBackend

    ensure = DatabricksBackend._ensure_cluster

    def resizing_first(self, log):  # the cluster resizes just as the run is about to start
        emulator.set_cluster_state(DEFAULT_CLUSTER_ID, "RUNNING")
        emulator.clusters.settle(DEFAULT_CLUSTER_ID, "RESIZING")
        return ensure(self, log)

    monkeypatch.setattr(DatabricksBackend, "_ensure_cluster", resizing_first)
    spec.write_text(spec.read_text().split("runs:")[0] + "runs:\n  - name: baseline\n")
    result = cli("apply", spec, "-v")
    assert result.code == 0, result.err
    shown = result.out + result.err
    assert f"cluster {DEFAULT_CLUSTER_ID} is RESIZING; waiting until it is RUNNING" in shown
    assert emulator.calls["POST /api/2.1/clusters/start"] == 0  # never started: it settled
    assert runs_by_name(cli, spec)["baseline"]["metrics"]["n_train"] == 120


def test_a_truncated_notebook_output_is_a_warning_and_the_run_keeps_its_status(
        cli, spec, emulator, monkeypatch):
    from bricksmith.emulator import jobs

    monkeypatch.setattr(jobs, "MAX_OUTPUT", 16)  # 5 MB, made small: every exit value is cut
    spec.write_text(spec.read_text().split("runs:")[0] + "runs:\n  - name: baseline\n")
    result = cli("apply", spec)
    assert result.code == 0, result.err
    assert "5 MB limit (notebook_output.truncated)" in result.out + result.err
    run = runs_by_name(cli, spec)["baseline"]
    assert run["metrics"] == {}  # lost, not misread from the first 16 bytes
    assert any("notebook_output.truncated" in w for w in run["warnings"])
    assert emulated_state_rows(spec)["run.baseline"][0] == "succeeded"
