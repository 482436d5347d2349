"""destroy on the local backend: what apply made goes, the project and the git remote stay."""

from __future__ import annotations

import io
import re
from pathlib import Path

import git
import pytest
from rich.console import Console

from bricksmith import api, destroy
from bricksmith.engine.lock import TargetLock
from bricksmith.errors import DataSyncError, LockedError, StateError, UsageError
from tests.e2e.conftest import cli, seed, tree  # noqa: F401 - fixtures

ROOT = ".bricksmith/local"
CLONE = f"{ROOT}/Workspace/Repos/local-user/iris-databricks"
NOTEBOOK = f"{ROOT}/Workspace/Users/local-user/.bricksmith/iris-databricks/run.py"
DATA = f"{ROOT}/dbfs/FileStore/iris-databricks/data"


class Out:
    """A plain console whose output the test reads."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.console = Console(file=self.buffer, no_color=True, width=300, soft_wrap=True)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


def run(spec: Path, **options) -> tuple[int, str]:
    out = Out()
    code = destroy.run_destroy_command(api.load(spec), console=out.console, **options)
    return code, out.text


@pytest.fixture
def applied(cli, seed):  # noqa: F811 - fixtures
    """The seed without its runs (a fast apply), applied: repo, notebook, DBFS data, state."""
    seed.write_text(seed.read_text().split("runs:")[0])
    result = cli("apply", seed)
    assert result.code == 0, result.out + result.err
    return seed


def test_destroy_removes_what_apply_made_and_keeps_project_and_remote(cli, seed):  # noqa: F811
    folder = seed.parent
    first = cli("apply", seed)
    assert first.code == 0, first.out + first.err
    project_before = tree(folder / "iris-databricks")
    remote = git.Repo(folder / "iris-databricks.git")
    commits = [c.hexsha for c in remote.iter_commits("main")]
    assert (folder / CLONE).is_dir() and (folder / NOTEBOOK).is_file()
    assert (folder / ROOT / "logs/runs/baseline.log").is_file()

    code, text = run(seed, yes=True)
    assert code == 0, text
    for line in (f"- workspace repo {folder / CLONE}", "- notebook ", "(and its folder "
                 ".bricksmith/iris-databricks)", "- data dbfs:/FileStore/iris-databricks/data "
                 "(9 of 9 uploaded file(s) there)", "- logs ", "- state ", "- lock ",
                 "kept: the Kedro project", "kept: the git remote iris-databricks.git",
                 "removed data dbfs:/FileStore/iris-databricks/data: 9 file(s)",
                 "Destroyed target 'local': "):
        assert line in text, line
    assert not (folder / ".bricksmith").exists()  # clone, notebook, DBFS, state, logs, lock
    assert tree(folder / "iris-databricks") == project_before
    remote = git.Repo(folder / "iris-databricks.git")
    assert [c.hexsha for c in remote.iter_commits("main")] == commits

    code, text = run(seed, yes=True)
    assert code == 0 and "Nothing to remove for target 'local'" in text
    plan = cli("plan", seed, "--json").json()
    assert {a["action"] for a in plan["actions"]} == {"create"}


def test_refuses_without_yes_when_the_input_is_not_a_terminal(applied, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a TTY
    out = Out()
    with pytest.raises(UsageError) as refused:
        destroy.run_destroy_command(api.load(applied), yes=False, console=out.console)
    assert "not a terminal" in refused.value.message and "--yes" in refused.value.hint
    assert f"- workspace repo {applied.parent / CLONE}" in out.text  # the plan was shown
    assert (applied.parent / CLONE).is_dir() and (applied.parent / ROOT / "state.db").exists()


def test_asks_on_a_terminal_and_only_yes_removes(applied):
    asked = []

    def answer(text):
        def confirm(prompt):
            asked.append(prompt)
            return text
        return confirm

    code, text = run(applied, yes=False, interactive=True, confirm=answer("no"))
    assert code == 1 and "nothing was removed" in text and "Type 'yes'" in asked[0]
    assert (applied.parent / CLONE).is_dir()
    code, text = run(applied, yes=False, interactive=True, confirm=answer("yes"))
    assert code == 0 and not (applied.parent / ".bricksmith").exists()


def test_files_others_wrote_beside_the_upload_are_kept(applied):
    data = applied.parent / DATA
    (data / "01_raw" / "mine.csv").write_text("x\n")
    code, text = run(applied, yes=True)
    assert code == 0, text
    assert "kept 1 file(s) bricksmith did not write: 01_raw/mine.csv" in text
    assert [p.name for p in data.rglob("*") if p.is_file()] == ["mine.csv"]
    assert not (data / "02_intermediate").exists()  # emptied folders go
    assert not (applied.parent / CLONE).exists()
    assert not (applied.parent / ROOT / "state.db").exists()


def test_a_partial_failure_keeps_the_state_and_a_second_destroy_finishes(applied, monkeypatch):
    workflow = api.load(applied)

    def fail(outputs):
        raise DataSyncError("disk says no", hint="fix it")

    monkeypatch.setattr(workflow.backend, "remove_upload", fail)
    out = Out()
    with pytest.raises(destroy.DestroyFailed) as failed:
        destroy.run_destroy_command(workflow, yes=True, console=out.console)
    assert "1 item(s) could not be removed (2 removed); the state was kept" in failed.value.message
    assert "x could not remove data dbfs:/FileStore/iris-databricks/data" in out.text
    assert "disk says no" in out.text
    root = applied.parent / ROOT
    assert not (applied.parent / CLONE).exists()
    assert (root / "state.db").exists() and (root / "logs").exists()

    plan = destroy.destroy_plan(api.load(applied))
    shown = {item.kind: item.exists for item in plan.items}
    assert shown["workspace repo"] is False and shown["notebook"] is False
    assert shown["data"] is True and shown["state"] is True
    code, text = run(applied, yes=True)
    assert code == 0 and "already gone" in text and not root.exists()


def test_destroy_takes_the_target_lock(applied):
    workflow = api.load(applied)
    plan = destroy.destroy_plan(workflow)
    with TargetLock(workflow.root, "local"), pytest.raises(LockedError):
        destroy.execute(workflow, plan)
    assert (applied.parent / CLONE).is_dir()


def test_a_state_changed_since_the_plan_is_refused(applied, cli):  # noqa: F811
    workflow = api.load(applied)
    plan = destroy.destroy_plan(workflow)
    applied.write_text(applied.read_text().replace("train_fraction: 0.8", "train_fraction: 0.6"))
    assert cli("apply", applied).code == 0
    with pytest.raises(StateError, match="changed since the destroy plan"):
        destroy.execute(workflow, plan)
    assert (applied.parent / CLONE).is_dir()


def test_plan_as_json_and_nothing_outside_the_root(applied):
    plan = destroy.destroy_plan(api.load(applied))
    kinds = [item["kind"] for item in plan.to_json()["items"]]
    # one apply leaves the copy of the state it ended with (state.db.bak), removed before it
    assert kinds == ["workspace repo", "notebook", "data", "logs", "state backup", "state",
                     "lock"]
    backend = api.load(applied).backend
    with pytest.raises(Exception, match="not inside"):
        backend.remove_repo({"path": str(applied.parent / "iris-databricks")})
    assert (applied.parent / "iris-databricks").is_dir()


def test_redact_hides_userinfo():
    assert destroy.redact("https://me:tok@github.com/x.git") == "https://***@github.com/x.git"


def test_a_root_holding_the_users_logs_and_cluster_keeps_them(cli, seed):  # noqa: F811
    """``root: .``: the spec's folder already held logs/ and cluster/ of the user's own."""
    folder = seed.parent
    (folder / "logs").mkdir()
    (folder / "logs" / "important.txt").write_text("my notes")
    (folder / "cluster").mkdir()
    (folder / "cluster" / "my-cluster.json").write_text("{}")
    seed.write_text(seed.read_text().replace("root: .bricksmith/local", "root: ."))
    assert cli("apply", seed).code == 0
    assert (folder / "cluster" / "baseline" / "result.json").is_file()

    code, text = run(seed, yes=True)
    assert code == 0, text
    # exactly what goes is listed before anything is removed
    stamp = r"\d{8}T\d{6}Z"  # one log per run execution, and the link to the latest
    assert re.search(
        rf"- logs {re.escape(str(folder / 'logs'))} \(runs/baseline/{stamp}\.log, "
        rf"runs/baseline.log, runs/environment.log, runs/split-70/{stamp}\.log, "
        r"runs/split-70.log, scaffold.log\)", text), text
    assert f"- run scratch {folder / 'cluster'} (baseline/ (" in text
    assert (folder / "logs" / "important.txt").read_text() == "my notes"
    assert (folder / "cluster" / "my-cluster.json").read_text() == "{}"
    assert sorted(p.name for p in (folder / "logs").iterdir()) == ["important.txt"]
    assert sorted(p.name for p in (folder / "cluster").iterdir()) == ["my-cluster.json"]
    assert not (folder / "state.db").exists() and not (folder / ".bricksmith-made").exists()


def test_a_run_never_empties_a_scratch_folder_of_the_users(cli, seed):  # noqa: F811
    folder = seed.parent
    (folder / "cluster" / "baseline").mkdir(parents=True)
    (folder / "cluster" / "baseline" / "mine.txt").write_text("x")
    seed.write_text(seed.read_text().replace("root: .bricksmith/local", "root: ."))
    result = cli("apply", seed)
    assert result.code == 1
    assert "cluster/baseline already exists and bricksmith did not make it" in result.err
    assert (folder / "cluster" / "baseline" / "mine.txt").read_text() == "x"


def test_a_target_applied_before_the_record_removes_its_known_files(applied):
    root = applied.parent / ROOT
    (root / ".bricksmith-made").unlink()  # as an older bricksmith left it
    (root / "logs" / "mine.txt").write_text("x")
    plan = destroy.destroy_plan(api.load(applied))
    logs = next(item for item in plan.items if item.kind == "logs")
    assert logs.detail == "scaffold.log"
    code, text = run(applied, yes=True)
    assert code == 0, text
    assert "- removed what bricksmith wrote in logs " in text
    assert "kept 1 file(s) bricksmith did not write: logs/mine.txt" in text
    assert sorted(p.name for p in root.iterdir()) == ["logs"]
