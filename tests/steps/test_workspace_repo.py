"""workspace.repo never overwrites an edit made in the Git folder while the apply ran, unless
the apply was told to discard them (issue 17)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bricksmith.errors import WorkspaceEdits
from bricksmith.steps.base import StepContext
from bricksmith.steps.workspace import SyncWorkspaceRepo

EDIT = {"path": "conf/base/parameters.yml", "change": "modified", "diff": "", "base": "abc"}
PUSHED = {"git.push": {"remote": "r.git", "branch": "main", "commit": "def"}}


class Backend:
    def __init__(self, edits):
        self.edits, self.synced = edits, []

    def repo_edits(self, outputs):
        return self.edits

    def sync_repo(self, **kwargs):
        self.synced.append(kwargs)
        return {"path": "/ws/p", "branch": "main", "commit": kwargs["commit"]}


def context(tmp_path: Path, backend, **flags) -> StepContext:
    spec = SimpleNamespace(path=tmp_path / "spec.yaml", project_dir=tmp_path / "project")
    return StepContext(spec=spec, target="local", backend=backend, root=tmp_path,
                       previous={"path": "/ws/p", "commit": "abc"}, **flags)


def step() -> SyncWorkspaceRepo:
    return SyncWorkspaceRepo(name="p", target={}, token_env=None)


def test_an_edit_found_when_the_step_runs_stops_it_and_the_folder_is_left(tmp_path):
    backend = Backend([EDIT])
    with pytest.raises(WorkspaceEdits) as refused:
        step().apply(context(tmp_path, backend), PUSHED)
    assert "edited while this apply ran: conf/base/parameters.yml (modified)" in str(refused.value)
    assert "bricksmith pull" in refused.value.hint and backend.synced == []


def test_discarding_or_no_edit_syncs(tmp_path):
    for backend, flags in ((Backend([EDIT]), {"discard_workspace_edits": True}),
                           (Backend([]), {})):
        out = step().apply(context(tmp_path, backend, **flags), PUSHED)
        assert out["commit"] == "def" and len(backend.synced) == 1
