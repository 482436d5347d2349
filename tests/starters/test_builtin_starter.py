"""The built-in databricks-iris starter, resolving starters, and Kedro's project creation."""

import shutil
import subprocess
from pathlib import Path

import git
import pytest

from bricksmith.errors import ScaffoldError
from bricksmith.starters import (
    BUILTIN_STARTERS,
    builtin_starter_path,
    create_project,
    package_name,
    resolve_starter,
    starter_template,
)

SHARED_IRIS = Path(__file__).resolve().parents[3] / "shared" / "data" / "iris.csv"
DATA_LAYERS = [
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project created once from the built-in starter."""
    root = tmp_path_factory.mktemp("scaffold")
    dest = root / "iris-databricks"
    create_project(
        builtin_starter_path("databricks-iris"),
        dest,
        project_name="Iris Databricks",
        log_path=root / "scaffold.log",
    )
    return dest


def test_builtin_starter_is_a_cookiecutter_template():
    assert "databricks-iris" in BUILTIN_STARTERS
    template = builtin_starter_path("databricks-iris")
    assert (template / "cookiecutter.json").is_file()
    assert (template / "{{ cookiecutter.repo_name }}").is_dir()
    iris = template / "{{ cookiecutter.repo_name }}" / "data" / "01_raw" / "iris.csv"
    rows = iris.read_text().splitlines()
    assert rows[0] == "sepal_length,sepal_width,petal_length,petal_width,species"
    assert len(rows) == 151
    if SHARED_IRIS.is_file():
        assert iris.read_bytes() == SHARED_IRIS.read_bytes()
    # Wheels drop dotfiles and a nested .gitignore would hide the template's data from git:
    # the template holds none; its post-generation hook makes them.
    assert not [p for p in template.rglob(".*")]


def test_unknown_builtin_starter_is_an_error():
    with pytest.raises(ScaffoldError, match="Unknown built-in starter"):
        builtin_starter_path("spaceflights")


def test_package_name_is_derived_from_the_repo_name():
    assert package_name("iris-databricks") == "iris_databricks"
    assert package_name("My Project") == "my_project"
    assert package_name("3d-shapes") == "_3d_shapes"


def test_create_project_makes_a_kedro_project_at_dest(project):
    assert project.name == "iris-databricks"
    assert not [p for p in project.parent.iterdir() if p.name.startswith(".iris-databricks-new")]
    package = project / "src" / "iris_databricks"
    for path in [
        "pyproject.toml",
        "requirements.txt",
        "README.md",
        ".gitignore",
        "conf/base/catalog.yml",
        "conf/base/parameters.yml",
        "conf/local/.gitkeep",
        "data/01_raw/iris.csv",
    ]:
        assert (project / path).is_file(), path
    for layer in DATA_LAYERS:
        assert (project / "data" / layer / ".gitkeep").is_file(), layer
    for module in ["settings.py", "pipeline_registry.py", "pipelines/iris/nodes.py"]:
        assert (package / module).is_file(), module
    assert not (project / "gitignore").exists()
    # Kedro's own metadata reading accepts it.
    from kedro.framework.startup import _get_project_metadata

    metadata = _get_project_metadata(project)
    assert metadata.package_name == "iris_databricks"
    assert metadata.project_name == "Iris Databricks"
    # `kedro new --telemetry no` records the project's opt-out.
    assert "false" in (project / ".telemetry").read_text()


def test_project_requirements_and_parameters(project):
    import kedro
    import yaml

    requirements = (project / "requirements.txt").read_text().splitlines()
    assert f"kedro~={kedro.__version__}" in requirements
    names = {line.split("[")[0].split(">")[0].split("~")[0].split("=")[0] for line in requirements}
    assert {"kedro", "kedro-datasets", "pandas", "numpy", "ipython"} <= names
    assert any("pandas-csvdataset" in line for line in requirements)
    pyproject = (project / "pyproject.toml").read_text()
    assert f'kedro_init_version = "{kedro.__version__}"' in pyproject

    parameters = yaml.safe_load((project / "conf/base/parameters.yml").read_text())
    assert parameters == {"train_fraction": 0.8, "random_state": 3, "target_column": "species"}
    catalog = yaml.safe_load((project / "conf/base/catalog.yml").read_text())
    assert list(catalog) == ["example_iris_data"]  # intermediates and metrics stay in memory
    assert catalog["example_iris_data"]["filepath"] == (
        "${runtime_params:data_root, /dbfs/FileStore/iris-databricks/data}/01_raw/iris.csv"
    )


def test_catalog_path_resolves_from_the_data_root(project):
    from kedro.config import OmegaConfigLoader

    def iris_path(runtime_params):
        loader = OmegaConfigLoader(
            str(project / "conf"),
            base_env="base",
            default_run_env="local",
            runtime_params=runtime_params,
        )
        return loader["catalog"]["example_iris_data"]["filepath"]

    assert iris_path({}) == "/dbfs/FileStore/iris-databricks/data/01_raw/iris.csv"
    assert iris_path({"data_root": "/tmp/dbfs/x"}) == "/tmp/dbfs/x/01_raw/iris.csv"


def test_gitignore_keeps_data_and_local_config_out_of_git(project, tmp_path):
    clone = tmp_path / "p"
    shutil.copytree(project, clone)
    repo = git.Repo.init(clone)
    repo.git.add(A=True)
    tracked = set(repo.git.ls_files().split("\n"))
    assert "data/01_raw/.gitkeep" in tracked
    assert "conf/local/.gitkeep" in tracked
    assert "conf/base/catalog.yml" in tracked
    assert "data/01_raw/iris.csv" not in tracked
    assert "conf/local/credentials.yml" not in tracked
    assert ".telemetry" not in tracked


def test_create_project_refuses_a_non_empty_dest(tmp_path):
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "file.txt").write_text("x")
    with pytest.raises(ScaffoldError, match="not empty"):
        create_project(
            builtin_starter_path("databricks-iris"),
            dest,
            project_name="Taken",
            log_path=tmp_path / "log.txt",
        )


def test_create_project_failure_carries_kedros_output(tmp_path):
    with pytest.raises(ScaffoldError) as caught:
        create_project(
            builtin_starter_path("databricks-iris"),
            tmp_path / "bad",
            project_name="bad/name!",  # Kedro's prompts.yml validation refuses it
            log_path=tmp_path / "log.txt",
        )
    assert caught.value.log_tail
    assert "project_name" in caught.value.log_tail or "must contain" in caught.value.log_tail
    assert not (tmp_path / "bad").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["log.txt"]


def test_resolve_builtin_and_local_starters(tmp_path):
    assert resolve_starter("databricks-iris", tmp_path) == builtin_starter_path("databricks-iris")
    local = tmp_path / "templates" / "mine"
    shutil.copytree(builtin_starter_path("databricks-iris"), local)
    assert resolve_starter("templates/mine", tmp_path) == local.resolve()
    assert resolve_starter(str(local), Path("/")) == local.resolve()


def test_resolve_rejects_unknown_starters(tmp_path):
    with pytest.raises(ScaffoldError, match="not a built-in starter"):
        resolve_starter("no-such-starter", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScaffoldError, match="no cookiecutter.json"):
        resolve_starter("empty", tmp_path)


def _starter_repository(tmp_path: Path, subdir: str | None = None) -> Path:
    source = tmp_path / "starter-src"
    shutil.copytree(builtin_starter_path("databricks-iris"), source / (subdir or ""))
    repo = git.Repo.init(source)
    repo.git.add(A=True)
    repo.git.commit(m="starter", author="T <t@example.com>")
    bare = tmp_path / "starters.git"
    subprocess.run(["git", "clone", "--bare", "-q", str(source), str(bare)], check=True)
    return bare


def test_resolve_clones_a_git_starter(tmp_path):
    bare = _starter_repository(tmp_path)
    cloned = resolve_starter(bare.as_uri(), tmp_path)
    try:
        assert (cloned / "cookiecutter.json").is_file()
        assert cloned != bare
    finally:
        shutil.rmtree(cloned)


def test_resolve_clones_a_folder_inside_a_git_starter(tmp_path):
    bare = _starter_repository(tmp_path, subdir="databricks-iris")
    cloned = resolve_starter(f"git+{bare.as_uri()}#databricks-iris", tmp_path)
    try:
        assert cloned.name == "databricks-iris"
        assert (cloned / "cookiecutter.json").is_file()
    finally:
        shutil.rmtree(cloned.parent)


def test_starter_template_deletes_its_clone(tmp_path):
    bare = _starter_repository(tmp_path)
    with starter_template(bare.as_uri(), tmp_path) as cloned:
        assert (cloned / "cookiecutter.json").is_file()
    assert not cloned.exists()
    with starter_template("databricks-iris", tmp_path) as builtin:
        assert builtin == builtin_starter_path("databricks-iris")
    assert builtin.is_dir()


def test_unreachable_git_starter_is_a_scaffold_error(tmp_path):
    with pytest.raises(ScaffoldError, match="Cannot clone") as caught:
        resolve_starter((tmp_path / "missing.git").as_uri(), tmp_path)
    assert caught.value.hint
    assert caught.value.log_tail


def test_resolve_clones_a_local_repository_path(tmp_path):
    bare = _starter_repository(tmp_path, subdir="databricks-iris")
    cloned = resolve_starter("starters.git#databricks-iris", tmp_path)
    try:
        assert (cloned / "cookiecutter.json").is_file()
        assert not cloned.is_relative_to(bare)
    finally:
        shutil.rmtree(cloned.parent)
