"""Edits the apply must never lose, on the local backend and on the emulator (through the real
databricks-sdk): the deployed notebook edited in the workspace (shown with a diff, refused,
not pulled but said so, discarded with a copy), and an edit of the Git folder made while an
apply runs (after its first check: the workspace.repo step stops and leaves it; after the
folder was checked out: kept, and shown by the next plan)."""

# ruff: noqa: F811 - the emulator spec fixture is imported by name
from __future__ import annotations

import base64

import git
import pytest

from bricksmith.api import Workflow
from bricksmith.steps.workspace import SyncWorkspaceRepo
from tests.e2e.test_databricks_emulator import spec  # noqa: F401 - fixture
from tests.e2e.test_databricks_git_folder import client, folder
from tests.e2e.test_workspace_edits import CLONE, edit_in_workspace, node_file, one_run

pytestmark = pytest.mark.e2e

LOCAL_NOTEBOOK = ".bricksmith/local/Workspace/Users/local-user/.bricksmith/iris-databricks/run.py"
MINE = "\n# COMMAND ----------\n\nprint('tried in the workspace')\n"


def edit_notebook_on_emulator(emulator) -> str:
    from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language

    w, path = client(emulator), f"/Users/{emulator.user}/.bricksmith/iris-databricks/run"
    text = base64.b64decode(w.workspace.export(path, format=ExportFormat.SOURCE).content)
    w.workspace.import_(path, content=base64.b64encode(text + MINE.encode()).decode(),
                        format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    return path


def check_notebook_loop(cli, spec, notebook_path: str, edited_text, keep):
    plan = cli("plan", spec, "--detailed-exitcode")
    assert plan.code == 2
    assert f"modified: {notebook_path}" in plan.out
    assert "+print('tried in the workspace')" in plan.out
    assert "the deployed notebook (generated: pull does not bring it home)" in plan.out
    [edit] = cli("plan", spec, "--json").json()["workspace_edits"]
    assert edit["notebook"] is True and edit["change"] == "modified"

    refused = cli("apply", spec)
    assert refused.code == 1 and "Traceback" not in refused.err
    assert f"the deployed notebook {notebook_path} was edited in the workspace" in refused.err
    assert "--discard-workspace-edits" in refused.err
    hint = refused.err.split("hint: ", 1)[1]
    assert hint.startswith("copy what you need into the project, then discard it with")
    assert "bricksmith pull" not in hint  # pull does not bring a notebook home
    assert "stops until you apply with --discard-workspace-edits" in plan.out
    assert "tried in the workspace" in edited_text()

    pulled = cli("pull", spec)
    assert pulled.code == 0, pulled.out + pulled.err
    assert f"Not pulled: the deployed notebook {notebook_path}" in pulled.out
    assert "Nothing to pull" in pulled.out
    assert "tried in the workspace" in edited_text()

    done = cli("apply", spec, "--discard-workspace-edits", "-v")
    assert done.code == 0, done.out + done.err
    [copy] = keep.glob("*/notebook/iris-databricks.py")
    assert str(copy) in done.out
    assert "tried in the workspace" in copy.read_text()
    assert "tried in the workspace" not in edited_text()
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_the_deployed_notebook_edited_on_the_local_backend(cli, seed):
    spec = one_run(seed, params=False)
    assert cli("apply", spec).code == 0
    file = spec.parent / LOCAL_NOTEBOOK
    file.write_text(file.read_text() + MINE)
    check_notebook_loop(cli, spec, str(file)[: -len(".py")], file.read_text,
                        spec.parent / ".bricksmith/local/workspace-edits")


def test_the_deployed_notebook_edited_on_the_emulator(cli, spec, emulator):
    spec = one_run(spec, params=False)
    assert cli("apply", spec).code == 0
    path = edit_notebook_on_emulator(emulator)
    disk = emulator.root / f"Workspace{path}.py"
    check_notebook_loop(cli, spec, path, disk.read_text,
                        spec.parent / ".bricksmith/emulated/workspace-edits")


def edit_after_the_first_check(monkeypatch, edit) -> None:
    """Make ``edit()`` happen once apply has checked for edits, before any step runs."""
    checked = Workflow._check_workspace_edits

    def then_edit(self, *args, **kwargs):
        checked(self, *args, **kwargs)
        edit()

    monkeypatch.setattr(Workflow, "_check_workspace_edits", then_edit)


def check_edit_during_apply(cli, spec, edit, edited_text):
    def ran_with() -> float:
        return cli("status", spec, "--json").json()["runs"][0]["metrics"]["train_fraction"]

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    with pytest.MonkeyPatch.context() as patch:
        edit_after_the_first_check(patch, edit)
        stopped = cli("apply", spec)
    assert stopped.code == 1 and "Traceback" not in stopped.out + stopped.err
    assert "was edited while this apply ran" in stopped.out + stopped.err
    assert "# tuned in the workspace" in edited_text()  # left as it is
    assert ran_with() == 0.8  # no run on a folder that is not the pushed commit

    pulled = cli("pull", spec)  # the edit goes home on top of the commit the apply pushed
    assert pulled.code == 0, pulled.out + pulled.err
    done = cli("apply", spec)
    assert done.code == 0, done.out + done.err
    assert ran_with() == 0.7
    assert "# tuned in the workspace" in edited_text()
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_an_edit_made_while_apply_runs_is_kept_on_the_local_backend(cli, seed):
    spec = one_run(seed)
    assert cli("apply", spec).code == 0
    clone = spec.parent / CLONE
    node = node_file(clone)

    def edit():
        (clone / node).write_text((clone / node).read_text() + "# tuned in the workspace\n")

    check_edit_during_apply(cli, spec, edit, lambda: (clone / node).read_text())
    project = spec.parent / "iris-databricks"
    assert git.Repo(project).head.commit.stats.files.keys() == {node}


def test_an_edit_made_while_apply_runs_is_kept_on_the_emulator(cli, spec, emulator):
    from databricks.sdk.service.workspace import ImportFormat

    spec = one_run(spec)
    assert cli("apply", spec).code == 0
    clone = emulator.root / f"Workspace{folder(emulator)}"
    node = node_file(clone)

    def edit():
        text = (clone / node).read_text() + "# tuned in the workspace\n"
        client(emulator).workspace.upload(f"{folder(emulator)}/{node}", text.encode(),
                                          format=ImportFormat.AUTO, overwrite=True)

    check_edit_during_apply(cli, spec, edit, lambda: (clone / node).read_text())


def test_an_edit_made_after_the_checkout_is_kept_and_shown(cli, seed):
    spec = one_run(seed, params=False)
    assert cli("apply", spec).code == 0
    clone = spec.parent / CLONE
    (spec.parent / "iris-databricks/README.md").write_text("# a local change\n")
    synced = SyncWorkspaceRepo.apply

    def then_edit(self, ctx, upstream):
        outputs = synced(self, ctx, upstream)
        edit_in_workspace(clone)
        return outputs

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SyncWorkspaceRepo, "apply", then_edit)
        cli("apply", spec)
    assert "train_fraction: 0.6" in (clone / "conf/base/parameters.yml").read_text()
    edits = cli("plan", spec, "--json").json()["workspace_edits"]
    assert "conf/base/parameters.yml" in [e["path"] for e in edits]
