"""Job runs and server errors on a `databricks` target whose host is the emulator: a finished
run is adopted, never submitted again; a run whose params changed while it was in flight is
cancelled before the new one; an apply behind a gateway answering 500/502/504 converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bricksmith.emulator import FaultPolicy
from tests.e2e.conftest import emulated_state_rows
from tests.reliability.harness import seed_spec

pytestmark = pytest.mark.e2e

SUBMIT = "POST /api/2.2/jobs/runs/submit"
CANCEL = "POST /api/2.2/jobs/runs/cancel"

# an apply that is SIGKILLed right before the first run step's result is recorded: its job run
# has terminated and its last checkpoint is written
KILL_BEFORE_RECORDING_A_RUN = """
import os, signal, sys
from bricksmith.engine.state import StateStore
recorded = StateStore.mark_succeeded
def mark_succeeded(self, key, outputs, entry=None):
    if key.startswith("run."):
        os.kill(os.getpid(), signal.SIGKILL)
    return recorded(self, key, outputs, entry)
StateStore.mark_succeeded = mark_succeeded
from bricksmith.cli import main
sys.exit(main(["--no-color", "apply", sys.argv[1]]))
"""


@pytest.fixture
def spec(seed, emulator, monkeypatch) -> Path:
    spec = seed_spec(seed.parent, emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    return spec


def runs_by_name(cli, spec):
    return {run["name"]: run for run in cli("status", spec, "--json").json()["runs"]}


def test_a_run_that_finished_before_the_kill_is_adopted_not_submitted_again(cli, spec,
                                                                           emulator):
    killed = subprocess.run(
        [sys.executable, "-c", KILL_BEFORE_RECORDING_A_RUN, str(spec)], cwd=spec.parent,
        env=os.environ.copy(), capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = {key: outputs for key, (status, outputs) in emulated_state_rows(spec).items()
                if key.startswith("run.") and outputs.get("_result") == "SUCCESS"}
    assert len(finished) == 1 and all(o["_pending"] for o in finished.values())
    (key, outputs), = finished.items()
    assert emulated_state_rows(spec)[key][0] == "running"
    submitted = emulator.calls[SUBMIT]

    plan = {a["step"]: a for a in cli("plan", spec, "--json").json()["actions"]}
    assert plan[key]["action"] == "resume"
    assert plan[key]["reasons"] == [
        "last attempt was interrupted",
        f"job run {outputs['_run_id']} finished (SUCCESS): apply adopts its result"]

    resumed = cli("apply", spec, "-v")
    assert resumed.code == 0, resumed.out + resumed.err
    assert f"adopting the finished job run {outputs['_run_id']} (SUCCESS)" in resumed.out
    assert emulator.calls[SUBMIT] == submitted <= 2  # nothing submitted again
    assert len(emulator.runs) == 2
    runs = runs_by_name(cli, spec)
    assert runs["baseline"]["metrics"]["n_train"] == 120
    assert runs["split-70"]["metrics"]["n_train"] == 105
    assert emulated_state_rows(spec)[key] == ("succeeded", emulated_state_rows(spec)[key][1])
    assert emulated_state_rows(spec)[key][1]["_run_id"] == outputs["_run_id"]
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_params_changed_while_a_run_is_in_flight_cancel_it_before_the_new_one(cli, spec,
                                                                            emulator):
    emulator.jobs.run_delay_s = 6.0  # runs stay RUNNING a while: time to kill the apply
    apply = subprocess.Popen(
        [sys.executable, "-m", "bricksmith.cli", "--no-color", "apply", str(spec)],
        cwd=spec.parent, env=os.environ.copy(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = emulated_state_rows(spec)
            if all("_run_id" in state.get(f"run.{n}", ("", {}))[1]
                   for n in ("baseline", "split-70")):
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
    old = emulated_state_rows(spec)["run.split-70"][1]["_run_id"]
    baseline = emulated_state_rows(spec)["run.baseline"][1]["_run_id"]
    spec.write_text(spec.read_text().replace("train_fraction: 0.7}", "train_fraction: 0.6}"))

    plan = {a["step"]: a for a in cli("plan", spec, "--json").json()["actions"]}
    assert plan["run.split-70"]["action"] == "resume"
    assert plan["run.split-70"]["reasons"] == [
        "last attempt was interrupted",
        f"job run {old} (params train_fraction=0.7) may still be in flight: apply cancels it "
        "before submitting the new run",
        "params.train_fraction: 0.7 → 0.6"]
    assert plan["run.baseline"]["reasons"] == [
        "last attempt was interrupted",
        f"job run {baseline} was not seen to finish: apply re-attaches to it"]

    emulator.jobs.run_delay_s = 0.0
    resumed = cli("apply", spec, "-v")
    assert resumed.code == 0, resumed.out + resumed.err
    assert f"job run {old} of the earlier params is RUNNING: cancelling it" in resumed.out
    assert emulator.calls[CANCEL] == 1 and emulator.calls[SUBMIT] == 3
    by_id = {run["run_id"]: run for run in emulator.runs}
    assert by_id[old]["state"]["result_state"] == "CANCELED"
    new = emulated_state_rows(spec)["run.split-70"][1]["_run_id"]
    assert by_id[old]["end_time"] <= by_id[new]["start_time"]  # never two at once
    assert by_id[baseline]["state"]["result_state"] == "SUCCESS"
    runs = runs_by_name(cli, spec)
    assert runs["split-70"]["params"] == {"train_fraction": 0.6}
    assert runs["split-70"]["metrics"]["n_train"] == 90


@pytest.mark.parametrize("fault_seed", [3, 11])
def test_an_apply_behind_a_gateway_answering_5xx_converges(cli, spec, emulator, fault_seed):
    emulator.set_faults(FaultPolicy(rate=0.2, kinds=("500", "502", "504"), seed=fault_seed,
                                    error_after_rate=0.05))
    result = cli("apply", spec)
    assert result.code == 0, result.out + result.err
    assert emulator.faults_injected >= 5  # faults did hit (how many depends on the polls)
    assert len(emulator.runs) == 2  # one job run per run step
    assert emulator.calls["POST /api/2.0/repos"] == 1  # a create that took effect: read back
    source = spec.parent / "iris-databricks/data"
    landed = emulator.root / "dbfs/FileStore/iris-databricks/data"
    for file in source.rglob("*"):
        if file.is_file():
            assert (landed / file.relative_to(source)).read_bytes() == file.read_bytes()
    runs = runs_by_name(cli, spec)
    assert runs["baseline"]["metrics"]["n_train"] == 120
    assert runs["split-70"]["metrics"]["n_train"] == 105
    again = cli("plan", spec, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
