"""The guide's workspace-first loop on a `databricks` target (the emulator, through the real
databricks-sdk): an edit made in the Git folder with the Workspace API is shown with its diff
(plan, plan --json), stops apply before any job runs, and `bricksmith pull` commits and pushes
it and checks the Git folder out at that commit; the runs then re-run and a second plan is
empty. The discard paths (flag and target setting) keep a copy; a conflicting local change
keeps both sides."""

from __future__ import annotations

import base64

import git
import pytest

from bricksmith.engine.state import StateStore
from tests.e2e.test_databricks_emulator import SUBMIT, spec  # noqa: F401 - fixture
from tests.e2e.test_workspace_edits import PARAMS, one_run

pytestmark = pytest.mark.e2e


def client(emulator):
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=emulator.url, token=emulator.token)


def folder(emulator) -> str:
    return f"/Repos/{emulator.user}/iris-databricks"


def edit_params(emulator, old: str = "train_fraction: 0.8", new: str = "train_fraction: 0.6"):
    """Edit conf/base/parameters.yml in the Git folder as the workspace's editor saves it."""
    from databricks.sdk.service.workspace import ExportFormat, ImportFormat

    w, path = client(emulator), f"{folder(emulator)}/{PARAMS}"
    text = base64.b64decode(w.workspace.export(path, format=ExportFormat.AUTO).content).decode()
    assert old in text
    w.workspace.upload(path, text.replace(old, new).encode(), format=ImportFormat.AUTO,
                       overwrite=True)


def state(spec):  # noqa: F811
    return {k: r.outputs for k, r in StateStore.open_readonly(
        spec.parent / ".bricksmith/emulated/state.db").all().items()}


def test_the_workspace_loop_on_databricks(cli, spec, emulator):  # noqa: F811
    spec = one_run(spec, params=False)
    assert cli("apply", spec).code == 0
    clone = emulator.root / f"Workspace{folder(emulator)}"
    project, remote = spec.parent / "iris-databricks", git.Repo(spec.parent / "iris-databricks.git")
    first = remote.commit("main").hexsha
    submits = emulator.calls[SUBMIT]
    edit_params(emulator)
    assert "train_fraction: 0.6" in (clone / PARAMS).read_text()  # the folder holds the edit

    plan = cli("plan", spec, "--detailed-exitcode")
    assert plan.code == 2
    assert f"modified: {PARAMS}" in plan.out
    assert "-train_fraction: 0.8" in plan.out and "+train_fraction: 0.6" in plan.out
    [edit] = cli("plan", spec, "--json").json()["workspace_edits"]
    assert (edit["path"], edit["change"], edit["base"]) == (PARAMS, "modified", first)
    assert edit["diff"].startswith(f"--- a/{PARAMS}\n+++ b/{PARAMS}\n")

    before = state(spec)
    refused = cli("apply", spec)
    assert refused.code == 1 and "Traceback" not in refused.err
    assert "has edits that apply would overwrite" in refused.err and PARAMS in refused.err
    assert f"bricksmith pull {spec}" in refused.err and "--discard-workspace-edits" in refused.err
    assert emulator.calls[SUBMIT] == submits  # no job ran on the edited code
    assert state(spec) == before
    assert "train_fraction: 0.6" in (clone / PARAMS).read_text()

    pulled = cli("pull", spec)
    assert pulled.code == 0, pulled.out + pulled.err
    assert f"modified: {PARAMS}" in pulled.out and "+train_fraction: 0.6" in pulled.out
    head = git.Repo(project).head.commit
    assert sorted(head.stats.files) == [PARAMS] and head.parents[0].hexsha == first
    assert "train_fraction: 0.6" in (project / PARAMS).read_text()
    assert remote.commit("main").hexsha == head.hexsha  # the bare remote holds it
    assert git.Repo(clone).head.commit.hexsha == head.hexsha
    assert git.Repo(clone).git.status("--porcelain") == ""
    assert cli("plan", spec, "--json").json()["workspace_edits"] == []

    done = cli("apply", spec)
    assert done.code == 0, done.out + done.err
    assert emulator.calls[SUBMIT] == submits + 1  # the run re-ran on the pulled commit
    run = cli("status", spec, "--json").json()["runs"][0]
    assert run["metrics"]["train_fraction"] == 0.6 and run["metrics"]["n_train"] == 90
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_discarding_keeps_a_copy_by_flag_or_target_setting(cli, spec, emulator):  # noqa: F811
    spec = one_run(spec, params=False)
    assert cli("apply", spec).code == 0
    clone = emulator.root / f"Workspace{folder(emulator)}"
    keep = spec.parent / ".bricksmith/emulated/workspace-edits"
    edit_params(emulator)
    done = cli("apply", spec, "--discard-workspace-edits", "-v")
    assert done.code == 0, done.out + done.err
    [kept] = keep.iterdir()
    assert str(keep) in done.out and str(kept) in done.out
    assert "train_fraction: 0.6" in (kept / PARAMS).read_text()
    assert "train_fraction: 0.8" in (clone / PARAMS).read_text()
    assert cli("plan", spec, "--detailed-exitcode").code == 0

    edit_params(emulator)  # the target setting: every apply discards (same mechanism)
    spec.write_text(spec.read_text().replace(
        "    root: .bricksmith/emulated\n",
        "    root: .bricksmith/emulated\n    discard_git_folder_edits: true\n"))
    again = cli("apply", spec)
    assert again.code == 0, again.out + again.err
    assert len(list(keep.iterdir())) == 2
    assert "train_fraction: 0.8" in (clone / PARAMS).read_text()


def test_a_conflicting_local_change_keeps_both_sides(cli, spec, emulator):  # noqa: F811
    spec = one_run(spec, params=False)
    assert cli("apply", spec).code == 0
    clone = emulator.root / f"Workspace{folder(emulator)}"
    project = spec.parent / "iris-databricks"
    edit_params(emulator)
    mine = (project / PARAMS).read_text().replace("train_fraction: 0.8", "train_fraction: 0.7")
    (project / PARAMS).write_text(mine)
    head = git.Repo(project).head.commit.hexsha
    refused = cli("pull", spec)
    assert refused.code == 1 and "Traceback" not in refused.err
    assert f"{PARAMS} (both changed the same lines)" in refused.err
    assert (project / PARAMS).read_text() == mine
    assert "train_fraction: 0.6" in (clone / PARAMS).read_text()
    assert git.Repo(project).head.commit.hexsha == head
