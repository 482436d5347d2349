"""The guide's workspace-first loop, end to end through the CLI on the local backend with a local
bare remote: edits made in the workspace Git folder are shown (plan, plan --json), never
overwritten silently (apply refuses before any step; --discard-workspace-edits keeps a copy),
and brought home by `bricksmith pull` (files, commit, remote branch, Git folder)."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from bricksmith.engine.state import StateStore
from tests.e2e.conftest import tree

pytestmark = pytest.mark.e2e

CLONE = ".bricksmith/local/Workspace/Repos/local-user/iris-databricks"
PARAMS = "conf/base/parameters.yml"


def one_run(spec: Path, *, params: bool = True) -> Path:
    """The seed spec with its baseline run only (and without project.params when not
    ``params``: then the project's parameters.yml owns train_fraction)."""
    text = spec.read_text()
    text = text[: text.index("\nruns:")] + "\nruns:\n  - name: baseline\n"
    if not params:
        text = text.replace("  params:                         # written into conf/base/"
                            "parameters.yml and committed\n    train_fraction: 0.8\n", "")
        assert "train_fraction" not in text
    spec.write_text(text)
    return spec


def node_file(clone: Path) -> str:
    found = sorted(clone.glob("src/*/pipelines/*/nodes.py")) or sorted(clone.glob("src/*/nodes.py"))
    return str(found[0].relative_to(clone))


def edit_in_workspace(clone: Path) -> str:
    """train_fraction 0.8 -> 0.6 in parameters.yml and a line added to a node file."""
    params = clone / PARAMS
    params.write_text(params.read_text().replace("train_fraction: 0.8", "train_fraction: 0.6"))
    node = node_file(clone)
    (clone / node).write_text((clone / node).read_text() + "# tuned in the workspace\n")
    return node


def test_the_workspace_loop_plan_shows_apply_refuses_pull_brings_home(cli, seed):
    spec = one_run(seed, params=False)
    assert cli("apply", spec).code == 0
    clone, project = spec.parent / CLONE, spec.parent / "iris-databricks"
    remote = git.Repo(spec.parent / "iris-databricks.git")
    first = remote.commit("main").hexsha
    node = edit_in_workspace(clone)
    (clone / "conf/local/extra.yml").write_text("x: 1\n")  # Kedro's .gitignore ignores it

    plan = cli("plan", spec, "--detailed-exitcode")
    assert plan.code == 2
    assert f"modified: {PARAMS}" in plan.out and f"modified: {node}" in plan.out
    assert "-train_fraction: 0.8" in plan.out and "+train_fraction: 0.6" in plan.out
    assert "+# tuned in the workspace" in plan.out
    edits = cli("plan", spec, "--json").json()["workspace_edits"]
    assert [(e["path"], e["change"]) for e in edits] == sorted(
        [(PARAMS, "modified"), (node, "modified"), ("conf/local/extra.yml", "added")])
    assert all(e["base"] == first for e in edits)
    assert all(e["diff"].startswith("--- /dev/null\n" if e["change"] == "added"
                                    else f"--- a/{e['path']}\n") for e in edits)

    before = tree(spec.parent)
    state_before = StateStore.open_readonly(spec.parent / ".bricksmith/local/state.db").all()
    refused = cli("apply", spec)
    assert refused.code == 1 and "Traceback" not in refused.err
    assert "has edits that apply would overwrite" in refused.err and PARAMS in refused.err
    assert f"bricksmith pull {spec}" in refused.err and "--discard-workspace-edits" in refused.err
    after = {k: v for k, v in tree(spec.parent).items() if not k.startswith(".bricksmith/local/")
             or k.startswith(f"{CLONE}/")}
    assert after == {k: v for k, v in before.items() if k in after}  # nothing written
    assert "train_fraction: 0.6" in (clone / PARAMS).read_text()
    state_after = StateStore.open_readonly(spec.parent / ".bricksmith/local/state.db").all()
    assert {k: r.outputs for k, r in state_after.items()} == \
        {k: r.outputs for k, r in state_before.items()}
    assert not (spec.parent / ".bricksmith/local/workspace-edits").exists()

    pulled = cli("pull", spec)
    assert pulled.code == 0, pulled.out + pulled.err
    assert f"modified: {PARAMS}" in pulled.out and "+train_fraction: 0.6" in pulled.out
    local = git.Repo(project)
    head = local.head.commit
    assert "train_fraction: 0.6" in (project / PARAMS).read_text()
    assert (project / node).read_text().endswith("# tuned in the workspace\n")
    assert sorted(head.stats.files) == sorted([PARAMS, node])  # never an ignored file
    assert (project / "conf/local/extra.yml").read_text() == "x: 1\n"
    assert "conf/local/extra.yml (not committed" in pulled.out
    assert not (clone / "conf/local/extra.yml").exists()
    assert head.message.startswith("Pull workspace edits:") and PARAMS in head.message
    assert head.parents[0].hexsha == first
    assert remote.commit("main").hexsha == head.hexsha  # the remote's branch holds it
    folder = git.Repo(clone)
    assert folder.head.commit.hexsha == head.hexsha and folder.git.status("--porcelain") == ""
    assert local.git.status("--porcelain") == ""

    plan = cli("plan", spec, "--json").json()
    assert plan["workspace_edits"] == []
    assert {a["step"] for a in plan["actions"] if a["action"] != "noop"} >= {"run.baseline"}
    done = cli("apply", spec)
    assert done.code == 0, done.out + done.err
    run = cli("status", spec, "--json").json()["runs"][0]
    assert run["metrics"]["train_fraction"] == 0.6 and run["metrics"]["n_train"] == 90
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_a_param_the_spec_owns_is_a_conflict_naming_the_key_and_both_values(cli, seed):
    spec = one_run(seed)
    assert cli("apply", spec).code == 0
    clone, project = spec.parent / CLONE, spec.parent / "iris-databricks"
    edit_in_workspace(clone)
    head = git.Repo(project).head.commit.hexsha

    refused = cli("pull", spec)
    assert refused.code == 1 and "Traceback" not in refused.err
    assert "project.params.train_fraction" in refused.err
    assert "sets 0.8" in refused.err and "sets 0.6" in refused.err
    assert "project.params.train_fraction: 0.6" in refused.err  # what to set in the spec
    assert git.Repo(project).head.commit.hexsha == head
    assert "train_fraction: 0.8" in (project / PARAMS).read_text()
    assert "train_fraction: 0.6" in (clone / PARAMS).read_text()  # the edit is still there

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.6"))
    pulled = cli("pull", spec)
    assert pulled.code == 0, pulled.out + pulled.err
    assert "train_fraction: 0.6" in (project / PARAMS).read_text()
    assert git.Repo(project).head.commit.hexsha != head


def test_a_local_change_to_the_same_lines_is_refused_naming_the_file(cli, seed):
    spec = one_run(seed, params=False)
    assert cli("apply", spec).code == 0
    clone, project = spec.parent / CLONE, spec.parent / "iris-databricks"
    node = edit_in_workspace(clone)
    mine = (project / PARAMS).read_text().replace("train_fraction: 0.8", "train_fraction: 0.7")
    (project / PARAMS).write_text(mine)
    head = git.Repo(project).head.commit.hexsha

    refused = cli("pull", spec)
    assert refused.code == 1 and "Traceback" not in refused.err
    assert f"{PARAMS} (both changed the same lines)" in refused.err and node not in refused.err
    assert (project / PARAMS).read_text() == mine  # both sides kept
    assert "# tuned in the workspace" not in (project / node).read_text()  # nothing written
    assert "train_fraction: 0.6" in (clone / PARAMS).read_text()
    assert git.Repo(project).head.commit.hexsha == head


def test_a_local_change_elsewhere_in_the_file_merges(cli, seed):
    spec = one_run(seed, params=False)
    assert cli("apply", spec).code == 0
    clone, project = spec.parent / CLONE, spec.parent / "iris-databricks"
    node = edit_in_workspace(clone)
    (project / node).write_text("# a local header\n" + (project / node).read_text())

    pulled = cli("pull", spec, "--message", "Tune the split in the workspace")
    assert pulled.code == 0, pulled.out + pulled.err
    text = (project / node).read_text()
    assert text.startswith("# a local header\n") and text.endswith("# tuned in the workspace\n")
    head = git.Repo(project).head.commit
    assert head.message.strip() == "Tune the split in the workspace"
    assert git.Repo(clone).head.commit.hexsha == head.hexsha


def test_discarding_keeps_a_copy_the_message_names(cli, seed):
    spec = one_run(seed, params=False)
    assert cli("apply", spec).code == 0
    clone = spec.parent / CLONE
    node = edit_in_workspace(clone)
    (clone / "conf/local/extra.yml").write_text("x: 1\n")

    done = cli("apply", spec, "--discard-workspace-edits")  # said without -v too
    assert done.code == 0, done.out + done.err
    keep = spec.parent / ".bricksmith/local/workspace-edits"
    assert "Note: discarding the workspace edits" in done.out
    kept = list(keep.glob("*"))
    assert len(kept) == 1 and str(keep) in done.out
    assert "train_fraction: 0.6" in (kept[0] / PARAMS).read_text()
    assert (kept[0] / node).read_text().endswith("# tuned in the workspace\n")
    assert (kept[0] / "conf/local/extra.yml").read_text() == "x: 1\n"
    assert "train_fraction: 0.8" in (clone / PARAMS).read_text()
    assert not (clone / "conf/local/extra.yml").exists()
    assert cli("plan", spec, "--json").json()["workspace_edits"] == []


def test_nothing_to_pull(cli, seed):
    spec = one_run(seed, params=False)
    before = cli("pull", spec)
    assert before.code == 1 and "run `bricksmith apply" in before.err
    assert cli("apply", spec).code == 0
    head = git.Repo(spec.parent / "iris-databricks").head.commit.hexsha
    nothing = cli("pull", spec)
    assert nothing.code == 0 and "Nothing to pull" in nothing.out
    assert git.Repo(spec.parent / "iris-databricks").head.commit.hexsha == head
