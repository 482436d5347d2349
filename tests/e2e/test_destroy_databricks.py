"""destroy on a `databricks` target served by the emulator: the real databricks-sdk deletes the
repo, the notebook folder and the uploaded DBFS files; the git remote and the project stay."""

from __future__ import annotations

import io
from pathlib import Path

import git
import pytest
from rich.console import Console

from bricksmith import api, destroy
from tests.e2e.conftest import tree
from tests.reliability.harness import seed_spec


@pytest.fixture
def spec(seed, emulator, monkeypatch) -> Path:
    """The seed without its runs, on a target whose host is the emulator."""
    spec = seed_spec(seed.parent, emulator.url)
    spec.write_text(spec.read_text().split("runs:")[0])
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    return spec


def destroyed(spec: Path) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, no_color=True, width=300, soft_wrap=True)
    code = destroy.run_destroy_command(api.load(spec), yes=True, console=console)
    return code, out.getvalue()


def test_destroy_through_the_sdk_and_again(cli, spec, emulator):
    applied = cli("apply", spec)
    assert applied.code == 0, applied.out + applied.err
    home = emulator.root / "Workspace/Users" / emulator.user
    clone = emulator.root / f"Workspace/Repos/{emulator.user}/iris-databricks"
    data = emulator.root / "dbfs/FileStore/iris-databricks/data"
    assert clone.is_dir() and (home / ".bricksmith/iris-databricks/run.py").is_file()
    (data / "01_raw/theirs.csv").write_text("not bricksmith's\n")
    project = tree(spec.parent / "iris-databricks")
    commits = [c.hexsha for c in git.Repo(spec.parent / "iris-databricks.git").iter_commits()]

    code, text = destroyed(spec)
    assert code == 0, text
    assert f"- workspace repo /Workspace/Repos/{emulator.user}/iris-databricks" in text
    assert f"- notebook /Users/{emulator.user}/.bricksmith/iris-databricks/run" in text
    assert "- data dbfs:/FileStore/iris-databricks/data (9 of 9 uploaded file(s) there)" in text
    assert "kept 1 file(s) bricksmith did not write: 01_raw/theirs.csv" in text
    assert "kept: job run history and the workspace's git credential" in text
    assert sum(n for k, n in emulator.calls.items() if k.startswith("DELETE /api/2.0/repos/")) == 1
    assert not clone.exists() and not (home / ".bricksmith").exists()
    assert [p.name for p in data.rglob("*") if p.is_file()] == ["theirs.csv"]
    assert not (data / "02_intermediate").exists()
    assert not (spec.parent / ".bricksmith").exists()  # state, logs, lock
    assert tree(spec.parent / "iris-databricks") == project
    remote = git.Repo(spec.parent / "iris-databricks.git")
    assert [c.hexsha for c in remote.iter_commits()] == commits

    emulator.reset_counts()
    code, text = destroyed(spec)
    assert code == 0 and "Nothing to remove" in text
    assert not emulator.calls  # no state: nothing to ask the workspace


def test_a_refused_delete_keeps_the_state_and_a_retry_finishes(cli, spec, emulator):
    assert cli("apply", spec).code == 0
    workflow = api.load(spec)
    plan = destroy.destroy_plan(workflow)
    emulator.gateway.forbidden = ["/FileStore/iris-databricks/data"]  # 403 from now on
    result = destroy.execute(workflow, plan)
    assert [item.kind for item, _ in result.failed] == ["data"]
    assert "not allowed" in result.failed[0][1]
    assert {item.kind for item, _ in result.removed} == {"workspace repo", "notebook"}
    assert result.state_kept and (spec.parent / ".bricksmith/emulated/state.db").exists()

    emulator.gateway.forbidden = []
    code, text = destroyed(spec)
    assert code == 0, text
    assert "= workspace repo" in text and "already gone" in text
    assert not (emulator.root / "dbfs/FileStore/iris-databricks/data").exists()
    assert not (spec.parent / ".bricksmith").exists()


def test_a_wrong_token_fails_before_anything_is_removed(cli, spec, emulator, monkeypatch):
    assert cli("apply", spec).code == 0
    monkeypatch.setenv("DATABRICKS_TOKEN", "zz-bad-token-42")
    with pytest.raises(destroy.BackendError) as refused:
        destroyed(spec)
    assert "DATABRICKS_TOKEN" in (refused.value.hint or "")
    assert "zz-bad-token-42" not in str(refused.value)
    assert (emulator.root / f"Workspace/Repos/{emulator.user}/iris-databricks").is_dir()
