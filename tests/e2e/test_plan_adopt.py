"""The plan says "adopt the existing project" (not "create") when the project folder already
holds a Kedro project, and says it again only while that is still true (the plan memo sees
the folder change)."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.e2e


def test_plan_adopts_an_existing_kedro_project(cli, seed, tmp_path, monkeypatch):
    monkeypatch.delenv("BRICKSMITH_NO_PLAN_MEMO", raising=False)
    fresh = cli("plan", seed, "--json").json()
    scaffold = {a["step"]: a for a in fresh["actions"]}["project.scaffold"]
    assert scaffold["action"] == "create" and scaffold["reasons"] == [
        "never applied to this target"]
    assert cli("apply", seed).code == 0
    shutil.rmtree(tmp_path / ".bricksmith")  # a new target root: the project stays
    text = cli("plan", seed).out
    line = next(x for x in text.splitlines() if "project.scaffold" in x)
    assert line.strip() == "+ project.scaffold (adopt)"
    assert "Plan: 8 to create, 1 to adopt, 0 to update" in text  # the summary agrees
    assert f"adopt the existing project at {tmp_path / 'iris-databricks'}" in text
    assert "it already holds a Kedro project" in text
    (tmp_path / "iris-databricks" / "pyproject.toml").unlink()  # no longer a Kedro project
    again = {a["step"]: a for a in cli("plan", seed, "--json").json()["actions"]}
    assert again["project.scaffold"]["reasons"] == ["never applied to this target"]
