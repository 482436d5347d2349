"""``kedro bricksmith pull`` from inside the Kedro project: the workspace's edit is committed
with the given message and pushed, as ``bricksmith pull`` does."""

from __future__ import annotations

import git
import pytest
from click.testing import CliRunner

from bricksmith.kedro_plugin import commands
from tests.e2e.test_workspace_edits import CLONE, PARAMS, edit_in_workspace, one_run

pytestmark = pytest.mark.e2e


def test_kedro_bricksmith_pull_commits_and_pushes(cli, seed, monkeypatch):
    spec = one_run(seed, params=False)
    assert cli("apply", spec).code == 0
    project = spec.parent / "iris-databricks"
    edit_in_workspace(spec.parent / CLONE)
    monkeypatch.chdir(project / "src")
    result = CliRunner().invoke(commands, ["bricksmith", "pull", "--message",
                                           "Tuned in the workspace", "--no-color"])
    assert result.exit_code == 0, result.output
    assert f"modified: {PARAMS}" in result.output
    head = git.Repo(project).head.commit
    assert head.message.strip() == "Tuned in the workspace"
    assert "train_fraction: 0.6" in (project / PARAMS).read_text()
    assert git.Repo(spec.parent / "iris-databricks.git").commit("main") == head
