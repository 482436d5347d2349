from pathlib import Path

import pytest

from bricksmith.errors import ScaffoldError
from bricksmith.spec import load_spec
from bricksmith.steps.base import StepContext
from bricksmith.steps.scaffold import ScaffoldProject

SPEC = "version: 1\nname: demo\nproject: {path: demo}\nrepo: {remote: demo.git}\n"


def context(tmp_path: Path) -> StepContext:
    spec_file = tmp_path / "w.yaml"
    spec_file.write_text(SPEC)
    return StepContext(spec=load_spec(spec_file), target="local", backend=None,
                       root=tmp_path / ".bricksmith")


def test_an_existing_kedro_project_is_adopted_untouched(tmp_path):
    project = tmp_path / "demo"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.kedro]\npackage_name = 'demo'\n")
    (project / "mine.py").write_text("# my code\n")
    ctx = context(tmp_path)
    step = ScaffoldProject(starter="databricks-iris", path="demo", name="demo")
    assert step.apply(ctx, {}) == {"path": str(project)}
    assert sorted(p.name for p in project.iterdir()) == ["mine.py", "pyproject.toml"]
    assert step.check(ctx, {}) == []


def test_a_non_kedro_folder_is_refused(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("x")
    step = ScaffoldProject(starter="databricks-iris", path="demo", name="demo")
    with pytest.raises(ScaffoldError, match="not a Kedro project"):
        step.apply(context(tmp_path), {})


def test_a_missing_project_is_drift(tmp_path):
    step = ScaffoldProject(starter="databricks-iris", path="demo", name="demo")
    assert step.check(context(tmp_path), {}) == [f"Kedro project {tmp_path / 'demo'} is missing"]
