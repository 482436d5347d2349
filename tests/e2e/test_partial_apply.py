"""Part of the DAG (``--only``), a forced re-run (``--replace``) and ``bricksmith run NAME``
on the local backend and the Databricks emulator: what runs is the named steps and what they
need upstream, nothing else; a forced run is a new execution in the run history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bricksmith.engine.state import StateStore
from tests.e2e.conftest import tree
from tests.reliability.harness import seed_spec

pytestmark = pytest.mark.e2e

SUBMIT = "POST /api/2.2/jobs/runs/submit"
UPSTREAM_OF_A_RUN = ["git.commit", "git.push", "project.params", "workspace.repo"]


def records(spec: Path, target: str = "local") -> dict:
    """{step: (status, attempt, fingerprint, finished_at)} of the target's state."""
    store = StateStore(spec.parent / ".bricksmith" / target / "state.db")
    try:
        return {k: (r.status, r.attempt, r.fingerprint, r.finished_at)
                for k, r in store.all().items()}
    finally:
        store.close()


def ran_between(before: dict, after: dict) -> list[str]:
    """The steps that started again (their attempt grew) between two readings."""
    return sorted(k for k in after if k not in before or after[k][1] != before[k][1])


def executions(cli, spec: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for entry in cli("runs", spec, "--json").json()["history"]:
        found.setdefault(entry["run"], []).append(entry["execution"])
    return found


def set_project_fraction(spec: Path, value: str) -> None:
    text = spec.read_text()
    assert "    train_fraction: 0.8\n" in text
    spec.write_text(text.replace("    train_fraction: 0.8\n", f"    train_fraction: {value}\n"))


@pytest.mark.parametrize("parallelism", ["1", "4"])
def test_only_one_run_after_a_params_change_runs_it_and_its_upstream_only(cli, seed,
                                                                          parallelism):
    assert cli("apply", seed).code == 0
    set_project_fraction(seed, "0.75")
    before = records(seed)

    plan = cli("plan", seed, "--only", "run.split-70", "--json").json()
    planned = sorted(a["step"] for a in plan["actions"] if a["action"] != "noop")
    assert planned == sorted([*UPSTREAM_OF_A_RUN, "run.split-70"])
    assert plan["left_out"] == ["run.baseline"]
    assert "run.baseline" not in {a["step"] for a in plan["actions"]}
    shown = cli("plan", seed, "--only", "run.split-70")
    assert "Left out by --only (1 step(s), not planned or applied): run.baseline" in shown.out

    applied = cli("apply", seed, "--only", "run.split-70", "-p", parallelism)
    assert applied.code == 0, applied.out + applied.err
    assert "1 left out by --only" in applied.out
    after = records(seed)
    assert ran_between(before, after) == planned  # exactly the plan
    assert after["run.baseline"] == before["run.baseline"]  # untouched: same row
    assert executions(cli, seed) == {"baseline": [1], "split-70": [1, 2]}
    history = cli("runs", seed, "--json").json()["history"]
    newest = history[-1]
    assert (newest["run"], newest["execution"]) == ("split-70", 2)
    assert newest["commit"] != history[0]["commit"]  # ran at the new commit

    # the rest of the workflow still knows what it lacks
    rest = cli("plan", seed, "--json").json()
    assert [a["step"] for a in rest["actions"] if a["action"] != "noop"] == ["run.baseline"]


@pytest.mark.parametrize("command,parallelism", [
    (("apply", "--replace", "run.baseline"), "1"),
    (("apply", "--replace", "run.baseline"), "4"),
    (("run", "baseline"), "4"),
])
def test_a_replaced_run_with_nothing_changed_runs_once_as_a_new_execution(
        cli, seed, command, parallelism):
    assert cli("apply", seed).code == 0
    before = records(seed)
    first = {e["run"]: e for e in cli("runs", seed, "--json").json()["history"]}

    plan = cli("plan", seed, "--replace", "run.baseline")
    assert "-/+ run.baseline (replace)\n      replaced on request\n" in plan.out
    assert "Plan: 0 to create, 0 to update, 0 to resume, 1 to replace, 8 unchanged." in plan.out
    actions = cli("plan", seed, "--replace", "run.baseline", "--json").json()["actions"]
    assert [(a["step"], a["action"], a["reasons"]) for a in actions if a["action"] != "noop"] \
        == [("run.baseline", "replace", ["replaced on request"])]

    verb, *rest = command
    applied = cli(verb, seed, *rest, "-p", parallelism, "-v")
    assert applied.code == 0, applied.out + applied.err
    assert "replaced on request: runs again although up to date" in applied.out
    assert "adopt" not in applied.out and "re-attach" not in applied.out  # a run anew
    after = records(seed)
    assert ran_between(before, after) == ["run.baseline"]
    assert after["run.split-70"] == before["run.split-70"]
    assert after["run.baseline"][2] == before["run.baseline"][2]  # same inputs
    assert executions(cli, seed) == {"baseline": [1, 2], "split-70": [1]}
    newest = cli("runs", seed, "--json").json()["history"][-1]
    assert (newest["run"], newest["execution"]) == ("baseline", 2)
    assert newest["started_at"] >= first["baseline"]["finished_at"]
    assert newest["metrics"] == first["baseline"]["metrics"]
    assert cli("plan", seed, "--detailed-exitcode").code == 0  # nothing else to do


def test_a_name_that_matches_no_step_is_refused_before_anything_is_written(cli, seed):
    folder = seed.parent
    for args in (("plan", seed, "--only", "run.nope"), ("apply", seed, "--only", "run.nope"),
                 ("apply", seed, "--replace", "run.basline"), ("run", seed, "nope"),
                 ("run", seed, "basline")):
        snapshot = tree(folder)
        refused = cli(*args)
        assert refused.code == 1, args
        if args[0] == "run":  # names the run and lists the runs, not the options it became
            assert f"no run named {args[2]!r} in this workflow" in refused.err, args
            assert "its runs are: baseline, split-70" in refused.err
            assert "--only" not in refused.err and "--replace" not in refused.err
        else:
            assert "names no step of this workflow" in refused.err, args
            assert "run.baseline, run.split-70" in refused.err  # the steps, listed
        assert "Traceback" not in refused.err
        assert tree(folder) == snapshot  # nothing written
    assert "did you mean 'run.baseline'?" in cli("apply", seed, "--replace",
                                                  "run.basline").err
    assert "did you mean 'baseline'?" in cli("run", seed, "basline").err
    outside = cli("plan", seed, "--only", "data.upload[0]", "--replace", "run.baseline")
    assert outside.code == 1 and "not among the steps --only data.upload[0] selects" in \
        outside.err
    globbed = cli("plan", seed, "--only", "run.*", "--json").json()
    assert globbed["left_out"] == [] and globbed["summary"]["create"] == 9


def test_saved_plans_carry_only_and_replace_and_go_stale_on_the_same_rules(cli, seed):
    folder = seed.parent
    assert cli("apply", seed).code == 0
    saved = folder / "replace.plan.json"
    assert cli("plan", seed, "--replace", "run.baseline", "--out", saved).code == 0
    data = json.loads(saved.read_text())
    assert (data["only"], data["replace"]) == ([], ["run.baseline"])
    mixed = cli("apply", saved, "--only", "run.baseline")
    assert mixed.code == 1 and "a saved plan keeps" in mixed.err
    before = records(seed)
    assert cli("apply", saved).code == 0
    assert ran_between(before, records(seed)) == ["run.baseline"]
    again = cli("apply", saved)  # the state moved since (it was applied)
    assert again.code == 1 and "stale plan: the state of target 'local' changed" in again.err

    partial = folder / "only.plan.json"
    assert cli("plan", seed, "--only", "run.split-70", "--out", partial).code == 0
    assert json.loads(partial.read_text())["left_out"] == ["run.baseline"]
    set_project_fraction(seed, "0.75")  # the spec changed after the review
    before = records(seed)
    stale = cli("apply", partial)
    assert stale.code == 1 and "changed since the plan was saved" in stale.err
    assert records(seed) == before

    reviewed = folder / "reviewed.plan.json"
    assert cli("plan", seed, "--only", "run.split-70", "--out", reviewed).code == 0
    assert cli("apply", reviewed).code == 0
    assert ran_between(before, records(seed)) == sorted([*UPSTREAM_OF_A_RUN, "run.split-70"])
    assert records(seed)["run.baseline"] == before["run.baseline"]


def test_only_and_replace_on_the_emulator(cli, seed, emulator, monkeypatch):
    spec = seed_spec(seed.parent, emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    assert cli("apply", spec).code == 0
    submitted = emulator.calls[SUBMIT]
    before = records(spec, "emulated")

    replaced = cli("run", spec, "baseline", "-p", "1")
    assert replaced.code == 0, replaced.out + replaced.err
    assert emulator.calls[SUBMIT] == submitted + 1  # a new job run, not the old one adopted
    after = records(spec, "emulated")
    assert ran_between(before, after) == ["run.baseline"]
    assert executions(cli, spec) == {"baseline": [1, 2], "split-70": [1]}
    runs = {e["execution"]: e for e in cli("runs", spec, "baseline", "--json").json()["history"]
            if e["run"] == "baseline"}
    assert runs[1]["metrics"] == runs[2]["metrics"]

    set_project_fraction(spec, "0.75")
    before = after
    applied = cli("apply", spec, "--only", "run.split-70", "-p", "4")
    assert applied.code == 0, applied.out + applied.err
    assert emulator.calls[SUBMIT] == submitted + 2
    after = records(spec, "emulated")
    assert ran_between(before, after) == sorted([*UPSTREAM_OF_A_RUN, "run.split-70"])
    assert after["run.baseline"] == before["run.baseline"]
    assert executions(cli, spec) == {"baseline": [1, 2], "split-70": [1, 2]}


def test_a_replaced_run_never_adopts_what_a_killed_apply_left(cli, seed, emulator,
                                                              monkeypatch):
    import os
    import signal
    import subprocess
    import sys

    from tests.e2e.conftest import emulated_state_rows
    from tests.e2e.test_databricks_runs import KILL_BEFORE_RECORDING_A_RUN

    spec = seed_spec(seed.parent, emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    killed = subprocess.run(
        [sys.executable, "-c", KILL_BEFORE_RECORDING_A_RUN, str(spec)], cwd=spec.parent,
        env=os.environ.copy(), capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (key, outputs), = [(k, o) for k, (status, o) in emulated_state_rows(spec).items()
                       if k.startswith("run.") and o.get("_result") == "SUCCESS"]
    submitted = emulator.calls[SUBMIT]

    plan = {a["step"]: a for a in cli("plan", spec, "--replace", key, "--json").json()[
        "actions"]}
    assert plan[key]["action"] == "resume"
    assert plan[key]["reasons"][1:] == [
        f"job run {outputs['_run_id']} of the earlier inputs finished (SUCCESS); apply "
        "submits the run anew", "replaced on request"]

    forced = cli("run", spec, key.removeprefix("run."), "-v")
    assert forced.code == 0, forced.out + forced.err
    assert "is not adopted" in forced.out and "adopting" not in forced.out
    assert emulator.calls[SUBMIT] == submitted + 1  # a new job run
    status, now = emulated_state_rows(spec)[key]
    assert status == "succeeded" and now["_run_id"] != outputs["_run_id"]
