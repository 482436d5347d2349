"""The user's project and history are never lost or rewritten, bricksmith's own files never
enter them, and the workspace Git folder holds exactly the pushed commit — end to end through
the CLI on the local backend, with local bare remotes."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

from bricksmith.engine.state import StateStore

pytestmark = pytest.mark.e2e

CLONE = ".bricksmith/local/Workspace/Repos/local-user/iris-databricks"
ME = {"GIT_AUTHOR_NAME": "u", "GIT_AUTHOR_EMAIL": "u@x", "GIT_COMMITTER_NAME": "u",
      "GIT_COMMITTER_EMAIL": "u@x"}


def without_runs(spec: Path, keep: str | None = None) -> Path:
    text = spec.read_text()
    head = text[: text.index("\nruns:")] + "\n"
    spec.write_text(head + (f"runs:\n  - name: {keep}\n" if keep else ""))
    return spec


def user_commit(repo: git.Repo, name: str, text: str, message: str) -> str:
    (Path(repo.working_tree_dir) / name).write_text(text)
    repo.index.add([name])
    with repo.git.custom_environment(**ME):
        repo.git.commit("-qm", message)
    return repo.head.commit.hexsha


def test_another_branch_checked_out_is_refused_and_no_commit_is_lost(cli, seed):
    spec = without_runs(seed)
    assert cli("apply", spec).code == 0
    project = git.Repo(spec.parent / "iris-databricks")
    remote = git.Repo(spec.parent / "iris-databricks.git")
    first = remote.commit("main").hexsha
    b = user_commit(project, "NOTES.md", "important work\n", "B: unpushed work on main")
    project.git.checkout("-qb", "feature", "HEAD~1")
    c = user_commit(project, "FEATURE.md", "feature\n", "C: feature work")

    for command in ("plan", "apply"):
        refused = cli(command, spec)
        assert refused.code == 1 and "Traceback" not in refused.out + refused.err
        text = refused.out + refused.err
        assert "is on branch feature, but the spec's repo.branch is main" in text
        assert "checkout main" in text and "repo.branch: feature" in text
    assert project.commit("main").hexsha == b and project.commit("feature").hexsha == c
    assert project.active_branch.name == "feature"
    assert remote.commit("main").hexsha == first  # C never reached the remote's main

    project.git.checkout("-q", "main")
    done = cli("apply", spec)
    assert done.code == 0, done.out + done.err
    assert remote.commit("main").hexsha == b  # a fast-forward to the user's own commit
    assert project.commit("main").hexsha == b and project.commit("feature").hexsha == c
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_a_change_is_committed_on_top_of_unpushed_work_and_says_what_changed(cli, seed):
    spec = without_runs(seed)
    assert cli("apply", spec).code == 0
    project = git.Repo(spec.parent / "iris-databricks")
    remote = git.Repo(spec.parent / "iris-databricks.git")
    b = user_commit(project, "NOTES.md", "important work\n", "B: unpushed work on main")

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    done = cli("apply", spec, "-v")
    assert done.code == 0, done.out + done.err
    top = remote.commit("main")
    assert top.parents[0].hexsha == b and project.head.commit == top
    subject, _, body = top.message.partition("\n\n")
    assert subject == "Set train_fraction: 0.8 → 0.7 (bricksmith)"
    assert "conf/base/parameters.yml (modified):\n  train_fraction: 0.8 → 0.7" in body
    assert "Set train_fraction: 0.8 → 0.7" in done.out  # the step's log line

    spec.write_text(spec.read_text().replace("  branch: main",
                                             "  branch: main\n  message: Tune the split"))
    assert cli("plan", spec, "--detailed-exitcode").code == 0  # the message alone: nothing
    spec.write_text(spec.read_text().replace("train_fraction: 0.7", "train_fraction: 0.6"))
    assert cli("apply", spec).code == 0
    assert remote.commit("main").message.startswith(
        "Tune the split\n\nconf/base/parameters.yml (modified):\n  train_fraction: 0.7 → 0.6")


def test_a_push_that_is_not_a_fast_forward_is_refused_never_forced(cli, seed, tmp_path):
    spec = without_runs(seed)
    assert cli("apply", spec).code == 0
    remote_dir = spec.parent / "iris-databricks.git"
    other = git.Repo.clone_from(remote_dir, tmp_path / "colleague")
    theirs = user_commit(other, "THEIRS.md", "theirs\n", "X: a colleague's commit")
    other.git.push("-q", "origin", "main")

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    project = git.Repo(spec.parent / "iris-databricks")
    head = project.head.commit.hexsha
    refused = cli("apply", spec)
    assert refused.code == 1 and "Traceback" not in refused.out + refused.err
    # the preflight sees it before the commit: nothing is committed, pushed or recorded
    assert "git would refuse the push" in refused.err and "pull --ff-only" in refused.err
    assert git.Repo(remote_dir).commit("main").hexsha == theirs  # kept, not overwritten
    assert project.head.commit.hexsha == head
    assert StateStore(spec.parent / ".bricksmith/local/state.db").all()[
        "git.push"].status == "succeeded"


def test_a_spec_inside_the_project_never_commits_bricksmith_files_and_converges(cli, seed):
    original = seed.read_text()
    made = without_runs(seed)
    assert cli("apply", made).code == 0
    proj = seed.parent / "proj"
    shutil.copytree(seed.parent / "iris-databricks", proj)
    shutil.rmtree(proj / ".git")
    spec = proj / "workflow.yaml"
    spec.write_text(original)
    spec.write_text(
        without_runs(spec, keep="baseline").read_text()
        .replace("  path: iris-databricks ", "  path: . ")
        .replace("  remote: iris-databricks.git ", "  remote: ../remote.git "))

    first = cli("apply", spec)
    assert first.code == 0, first.out + first.err
    project = git.Repo(proj)
    files = project.git.ls_files().split("\n")
    assert not [f for f in files if f.startswith(".bricksmith")]
    assert "/.bricksmith/local" in (proj / ".git/info/exclude").read_text()
    assert ".bricksmith" not in (proj / ".gitignore").read_text()  # the user's file: untouched

    assert cli("plan", spec, "--detailed-exitcode").code == 0
    saved = cli("plan", spec, "--out", proj / "plan.json")
    assert saved.code == 0
    again = cli("apply", proj / "plan.json")
    assert again.code == 0, again.out + again.err
    assert "0 step(s) ran" in again.out
    assert cli("apply", spec).code == 0
    remote = git.Repo(seed.parent / "remote.git")
    assert len(list(remote.iter_commits("main"))) == 1
    log = (proj / ".bricksmith/local/logs/runs/baseline.log").read_text()
    assert log.count("Pipeline execution completed") == 1
    assert project.git.status("--porcelain") == ""


def test_a_file_dropped_into_the_workspace_repo_is_drift_removed_and_kept(cli, seed):
    spec = without_runs(seed, keep="baseline")
    assert cli("apply", spec).code == 0
    assert cli("plan", spec, "--detailed-exitcode").code == 0  # bytecode of the run: no drift
    clone = spec.parent / CLONE
    assert list(clone.rglob("__pycache__"))
    dropped = clone / "conf/local/parameters.yml"
    dropped.write_text("train_fraction: 0.1\n")
    edited = clone / "conf/base/parameters.yml"
    edited.write_text(edited.read_text() + "\n# edited in the workspace\n")

    plan = cli("plan", spec, "--detailed-exitcode")  # a replayed memo must not hide it
    assert plan.code == 2
    assert "files that are not in the commit: conf/local/parameters.yml" in plan.out
    assert "local changes: conf/base/parameters.yml" in plan.out

    refused = cli("apply", spec)  # never overwritten silently (issue 17)
    assert refused.code == 1 and "--discard-workspace-edits" in refused.err
    assert dropped.exists() and "edited in the workspace" in edited.read_text()
    done = cli("apply", spec, "-v", "--discard-workspace-edits")
    assert done.code == 0, done.out + done.err
    assert not dropped.exists() and "edited in the workspace" not in edited.read_text()
    kept = list((spec.parent / ".bricksmith/local/workspace-edits").glob("*"))
    assert len(kept) == 1
    assert (kept[0] / "conf/local/parameters.yml").read_text() == "train_fraction: 0.1\n"
    assert "edited in the workspace" in (kept[0] / "conf/base/parameters.yml").read_text()
    assert str(kept[0]) in done.out and "conf/local/parameters.yml" in done.out
    run = cli("status", spec, "--json").json()["runs"][0]
    assert run["metrics"]["train_fraction"] == 0.8 and run["metrics"]["n_train"] == 120
    assert cli("plan", spec, "--detailed-exitcode").code == 0
