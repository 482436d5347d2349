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


# ------------------------------------------------------------------ starters from anywhere


def context_with(tmp_path: Path, project: str) -> StepContext:
    spec_file = tmp_path / "w.yaml"
    spec_file.write_text(f"version: 1\nname: demo\nproject: {project}\n"
                         "repo: {remote: demo.git}\n")
    return StepContext(spec=load_spec(spec_file), target="local", backend=None,
                       root=tmp_path / ".bricksmith")


def starter_repository(tmp_path: Path) -> Path:
    """A bare repository holding the built-in starter under starters/iris, tagged v1."""
    import shutil
    import subprocess

    from bricksmith.starters import builtin_starter_path

    work = tmp_path / "src"
    shutil.copytree(builtin_starter_path("databricks-iris"), work / "starters" / "iris")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "s"],
                 ["tag", "v1"]):
        subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@x", *args], cwd=work,
                       check=True)
    bare = tmp_path / "starters.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def test_a_project_from_a_git_starter_at_a_tag_in_a_folder(tmp_path):
    url = starter_repository(tmp_path).as_uri()
    ctx = context_with(tmp_path, f"{{path: demo, starter: '{url}', "
                                 "starter_directory: starters/iris, starter_checkout: v1}")
    messages = []
    ctx.log = messages.append
    wf = ctx.spec.workflow.project
    step = ScaffoldProject(starter=wf.starter, path=wf.path, name="demo")
    assert step.apply(ctx, {}) == {"path": str(tmp_path / "demo")}
    assert (tmp_path / "demo" / "src" / "demo" / "pipeline_registry.py").is_file()
    assert step.check(ctx, {}) == []
    assert messages[-1].endswith(f"from {url} (directory starters/iris, checkout v1)")


def test_a_project_from_a_local_template_folder(tmp_path):
    import shutil

    from bricksmith.starters import builtin_starter_path

    shutil.copytree(builtin_starter_path("databricks-iris"), tmp_path / "tpl" / "iris")
    ctx = context_with(tmp_path, "{path: demo, starter: 'tpl#iris'}")
    ScaffoldProject(starter="tpl#iris", path="demo", name="demo").apply(ctx, {})
    assert (tmp_path / "demo" / "conf" / "base" / "parameters.yml").is_file()
    assert (tmp_path / "tpl" / "iris" / "cookiecutter.json").is_file()  # the template is intact


def test_an_existing_project_is_adopted_without_reaching_its_git_starter(tmp_path):
    project = tmp_path / "demo"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.kedro]\npackage_name = 'demo'\n")
    ctx = context_with(tmp_path, "{path: demo, starter: 'https://127.0.0.1:9/s.git'}")
    step = ScaffoldProject(starter="https://127.0.0.1:9/s.git", path="demo", name="demo")
    assert step.apply(ctx, {}) == {"path": str(project)}
    assert [p.name for p in project.iterdir()] == ["pyproject.toml"]


def test_an_unreachable_git_starter_fails_cleanly(tmp_path):
    ctx = context_with(tmp_path, "{path: demo, starter: 'https://127.0.0.1:9/s.git'}")
    step = ScaffoldProject(starter="https://127.0.0.1:9/s.git", path="demo", name="demo")
    with pytest.raises(ScaffoldError, match="Cannot clone the starter repository") as caught:
        step.apply(ctx, {})
    assert "local template directory" in caught.value.hint
    assert not (tmp_path / "demo").exists()


def test_an_empty_folder_is_scaffolded_and_a_file_refused(tmp_path):
    (tmp_path / "demo").write_text("not a folder")
    step = ScaffoldProject(starter="databricks-iris", path="demo", name="demo")
    with pytest.raises(ScaffoldError, match="is a file"):
        step.apply(context(tmp_path), {})
    (tmp_path / "demo").unlink()
    (tmp_path / "demo").mkdir()
    step.apply(context(tmp_path), {})
    assert (tmp_path / "demo" / "pyproject.toml").is_file()


def test_the_starter_is_not_an_input(tmp_path):
    """Only how a missing project is made: changing it (or editing a local template) never
    re-runs an existing project and everything after it."""
    a = ScaffoldProject(starter="databricks-iris", path="demo", name="demo")
    b = ScaffoldProject(starter="../tpl#iris", path="demo", name="demo", checkout="v1")
    assert a.inputs() == b.inputs() == {"path": "demo"}
    assert ScaffoldProject(starter="x", path="other", name="demo").inputs() != a.inputs()
