"""Acceptance: the seed's modify-and-re-run loop on the local backend."""

from __future__ import annotations

import git
import yaml

from bricksmith.engine.state import StateStore

CHANGED = {"project.params", "git.commit", "git.push", "workspace.repo", "run.baseline",
           "run.split-70"}


def runs_by_name(status):
    return {run["name"]: run for run in status["runs"]}


def test_apply_noop_change_and_partial_reapply(cli, seed):
    folder = seed.parent
    first = cli("apply", seed)
    assert first.code == 0, first.out + first.err
    assert "Runs" in first.out and "baseline" in first.out and "0.933" in first.out

    runs = runs_by_name(cli("status", seed, "--json").json())
    assert runs["baseline"]["status"] == runs["split-70"]["status"] == "succeeded"
    assert runs["baseline"]["metrics"]["n_train"] == 120   # 0.8 of 150 rows
    assert runs["split-70"]["metrics"]["n_train"] == 105   # its runtime param 0.7
    assert 0 < runs["baseline"]["metrics"]["accuracy"] <= 1
    assert runs["split-70"]["params"] == {"train_fraction": 0.7}
    log = (folder / ".bricksmith/local/logs/runs/baseline.log").read_text()
    assert "Model has an accuracy of 0.933 on test data." in log

    # Everything the steps say they did is really there.
    remote = git.Repo(folder / "iris-databricks.git")
    assert remote.bare and len(list(remote.iter_commits("main"))) == 1
    clone = folder / ".bricksmith/local/Workspace/Repos/local-user/iris-databricks"
    assert git.Repo(clone).head.commit.hexsha == remote.commit("main").hexsha
    root = folder / ".bricksmith/local"
    iris = root / "dbfs/FileStore/iris-databricks/data/01_raw/iris.csv"
    assert iris.read_text().count("\n") == 151
    notebook = root / "Workspace/Users/local-user/.bricksmith/iris-databricks/run.py"
    assert notebook.read_text().startswith("# Databricks notebook source")

    shown = cli("status", seed).out  # what was captured, and where it came from
    assert "metrics of baseline: notebook exit value (free output 'metrics'): accuracy" in shown
    assert runs["baseline"]["metric_sources"]["accuracy"].startswith("notebook exit value")

    table = cli("runs", seed)
    assert table.code == 0 and "train_fraction" in table.out and "accuracy" in table.out
    assert "0.9333" in table.out and "0.9556" in table.out
    report = cli("report", seed, "--out", folder / "out" / "runs.html")
    assert report.code == 0 and (folder / "out" / "runs.html").read_text().count("<svg") >= 1

    nothing = cli("plan", seed, "--detailed-exitcode")
    assert nothing.code == 0 and "0 to create, 0 to update, 0 to resume, 9 unchanged" in nothing.out

    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    plan = cli("plan", seed, "--json")
    assert plan.code == 0
    actions = {a["step"]: a for a in plan.json()["actions"]}
    assert {k for k, a in actions.items() if a["action"] != "noop"} == CHANGED
    assert all(actions[k]["action"] == "update" and actions[k]["reasons"] for k in CHANGED)
    assert actions["project.params"]["reasons"] == ["params.train_fraction: 0.8 → 0.7"]
    assert actions["run.baseline"]["reasons"] == ["upstream workspace.repo will update"]
    for unchanged in ("project.scaffold", "data.upload[0]", "notebook.deploy"):
        assert actions[unchanged]["action"] == "noop"
    assert plan.json()["summary"] == {"create": 0, "update": 6, "resume": 0, "noop": 3,
                                     "remove": 0}
    assert cli("plan", seed, "--detailed-exitcode").code == 2
    text = cli("plan", seed).out
    assert "~ project.params" in text and "params.train_fraction: 0.8 → 0.7" in text

    before = StateStore(folder / ".bricksmith/local/state.db").all()
    again = cli("apply", seed, "-v")  # -v streams each run's Kedro log as it is written
    assert again.code == 0, again.out + again.err
    assert "    run.baseline: " in again.out and "Model has an accuracy of" in again.out
    after = StateStore(folder / ".bricksmith/local/state.db").all()
    reran = {k for k in after if after[k].attempt != before[k].attempt}
    assert reran == CHANGED
    assert after["data.upload[0]"].finished_at == before["data.upload[0]"].finished_at

    commits = list(remote.iter_commits("main"))
    assert len(commits) == 2
    params = yaml.safe_load(remote.git.show("main:conf/base/parameters.yml"))
    assert params["train_fraction"] == 0.7
    assert git.Repo(clone).head.commit.hexsha == commits[0].hexsha
    runs = runs_by_name(cli("status", seed, "--json").json())
    assert runs["baseline"]["metrics"]["n_train"] == 105
    assert runs["baseline"]["metrics"]["accuracy"] == runs["split-70"]["metrics"]["accuracy"]
    # both ran at 0.7 now: no param differs between them; the starter's metrics echo
    # train_fraction, so `runs` shows it once, in its metric column marked as a param too
    assert runs["baseline"]["effective_params"] == {"train_fraction": 0.7}
    table = cli("runs", seed).out
    assert table.count("train_fraction") == 1 and "metric=param" in table
    assert "All runs share" not in table

    assert cli("plan", seed, "--detailed-exitcode").code == 0

    # Drift: an uploaded file deleted behind bricksmith's back. A plan finds it; a plan
    # with --no-refresh compares with the saved state only, and does not.
    iris.unlink()
    drifted = cli("plan", seed, "--json").json()
    upload = {a["step"]: a for a in drifted["actions"]}["data.upload[0]"]
    assert upload["action"] == "update" and "01_raw/iris.csv" in upload["reasons"][0]
    assert cli("plan", seed, "--no-refresh", "--detailed-exitcode").code == 0


def test_graph_prints_the_dag_as_mermaid(cli, seed):
    out = cli("graph", seed).out
    assert out.startswith("flowchart LR")
    assert '["run.split-70"]' in out and out.count("-->") == 11


def test_a_run_taken_out_of_the_spec_is_removed_from_the_state(cli, seed):
    assert cli("apply", seed).code == 0
    text = seed.read_text()
    seed.write_text(text[: text.index("  - name: split-70")])
    plan = cli("plan", seed)
    assert "- run.split-70" in plan.out and "1 to remove" in plan.out
    applied = cli("apply", seed)
    assert applied.code == 0 and "1 removed step(s) forgotten" in applied.out
    assert "run.split-70" not in StateStore(seed.parent / ".bricksmith/local/state.db").all()
    assert cli("plan", seed, "--detailed-exitcode").code == 0
