"""Edits made in the workspace's Git folder on a `databricks` target (the emulator, through the
real databricks-sdk): apply refuses to run jobs on code that is not the pushed commit, naming
the edited files, unless the target allows discarding them (a copy is kept)."""

from __future__ import annotations

import pytest

from tests.e2e.test_databricks_emulator import SUBMIT, spec  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


def test_workspace_edits_refuse_apply_then_are_discarded_with_a_copy(cli, spec, emulator):  # noqa: F811
    assert cli("apply", spec).code == 0
    submits = emulator.calls[SUBMIT]
    clone = emulator.root / f"Workspace/Repos/{emulator.user}/iris-databricks"
    params = clone / "conf/base/parameters.yml"
    params.write_text(params.read_text() + "# tuned in the workspace\n")
    plan = cli("plan", spec)
    assert "workspace.repo" in plan.out
    assert "uncommitted changes: conf/base/parameters.yml (modified)" in plan.out
    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))

    refused = cli("apply", spec)
    assert refused.code == 1
    assert "conf/base/parameters.yml (modified)" in refused.err
    assert "discard_git_folder_edits" in refused.err
    assert "Traceback" not in refused.err
    assert emulator.calls[SUBMIT] == submits  # no job ran on the edited code
    assert params.read_text().endswith("# tuned in the workspace\n")  # nothing lost

    spec.write_text(spec.read_text().replace(
        "    root: .bricksmith/emulated\n",
        "    root: .bricksmith/emulated\n    discard_git_folder_edits: true\n"))
    done = cli("apply", spec)
    assert done.code == 0, done.out + done.err
    assert "# tuned in the workspace" not in params.read_text()
    assert "train_fraction: 0.7" in params.read_text()
    [kept] = (spec.parent / ".bricksmith/emulated/workspace-edits").iterdir()
    assert (kept / "conf/base/parameters.yml").read_text().endswith(
        "# tuned in the workspace\n")
    assert emulator.calls[SUBMIT] > submits
