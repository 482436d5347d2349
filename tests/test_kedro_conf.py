"""kedro_conf: a project's configuration found the way Kedro finds it (issue 14, item 3)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bricksmith.errors import BricksmithError, ProjectConfError
from bricksmith.kedro_conf import (
    defining_file,
    key_paths,
    load_parameters,
    parameter_files,
    read_project_conf,
)

PARAMS = "train_fraction: 0.8\nrandom_state: 3\n"


def make_project(root: Path, settings: str = "", files: dict[str, str] | None = None) -> Path:
    """A minimal Kedro project: pyproject.toml, src/demo/settings.py and ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[tool.kedro]\npackage_name = "demo"\nproject_name = "demo"\nsource_dir = "src"\n'
    )
    package = root / "src" / "demo"
    package.mkdir(parents=True, exist_ok=True)
    (package / "settings.py").write_text(textwrap.dedent(settings))
    files = files if files is not None else {"conf/base/parameters.yml": PARAMS}
    for rel, text in {"conf/local/.gitkeep": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_defaults_when_settings_sets_nothing(tmp_path):
    project = make_project(tmp_path / "p")
    conf = read_project_conf(project)
    assert conf.package_name == "demo"
    assert conf.conf_source == project / "conf"
    assert (conf.base_env, conf.default_run_env) == ("base", "local")
    assert conf.config_patterns["parameters"] == (
        "parameters*", "parameters*/**", "**/parameters*")
    assert conf.settings_file == project / "src" / "demo" / "settings.py"
    assert set(conf.files_read) == {project / "pyproject.toml", conf.settings_file}
    assert load_parameters(conf) == {"train_fraction": 0.8, "random_state": 3}


def test_custom_conf_source_from_settings_without_importing_the_project(tmp_path):
    # the case conf-source-params-ignored: conf inside the package, and a hook import that
    # would fail (bricksmith must not import it)
    settings = '''
        from iris_databricks.hooks import SparkHooks  # not importable here
        HOOKS = (SparkHooks(),)
        CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
        from pathlib import Path

        CONF_SOURCE = str(Path(__file__).parent / "conf")
    '''
    project = make_project(tmp_path / "p", settings, {
        "src/demo/conf/base/parameters.yml": PARAMS,
        "src/demo/conf/local/.gitkeep": "",
        "conf/base/parameters.yml": "train_fraction: 0.1\n",  # not what Kedro reads
    })
    conf = read_project_conf(project)
    assert conf.conf_source == project / "src" / "demo" / "conf"
    assert parameter_files(conf) == [project / "src/demo/conf/base/parameters.yml"]
    assert load_parameters(conf)["train_fraction"] == 0.8


def test_relative_conf_source_and_helper_values(tmp_path):
    settings = '''
        import os
        ROOT = "settings_conf"
        CONF_SOURCE = os.path.join(ROOT, "x")
    '''
    project = make_project(tmp_path / "p", settings, {
        "settings_conf/x/base/parameters.yml": PARAMS, "settings_conf/x/local/.gitkeep": ""})
    conf = read_project_conf(project)
    assert conf.conf_source == project / "settings_conf" / "x"
    assert load_parameters(conf)["random_state"] == 3


def test_config_patterns_and_environments_from_settings(tmp_path):
    settings = '''
        CONFIG_LOADER_ARGS = {
            "base_env": "common",
            "default_run_env": "dev",
            "config_patterns": {"parameters": ["params*", "params*/**"]},
        }
        CONFIG_LOADER_ARGS["merge_strategy"] = {"parameters": "soft"}
    '''
    project = make_project(tmp_path / "p", settings, {
        "conf/common/params.yml": "a: 1\nnested: {x: 1, y: 2}\n",
        "conf/common/params/more.yml": "b: 2\n",
        "conf/common/parameters.yml": "ignored: 1\n",  # not a pattern of this project
        "conf/dev/params.yml": "a: 10\nnested: {y: 20}\n",
    })
    conf = read_project_conf(project)
    assert (conf.base_env, conf.default_run_env) == ("common", "dev")
    assert conf.config_patterns["parameters"] == ("params*", "params*/**")
    assert conf.config_patterns["catalog"] == ("catalog*", "catalog*/**", "**/catalog*")
    assert conf.loader_args == {"merge_strategy": {"parameters": "soft"}}
    assert parameter_files(conf) == sorted([project / "conf/common/params.yml",
                                            project / "conf/common/params/more.yml"])
    # the run env (dev) merged over base, softly as the project asks
    assert load_parameters(conf) == {"a": 10, "b": 2, "nested": {"x": 1, "y": 20}}
    assert load_parameters(conf, env="common") == {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}


def test_duplicate_keys_across_files_is_an_error_naming_both(tmp_path):
    project = make_project(tmp_path / "p", files={
        "conf/base/parameters.yml": "train_fraction: 0.6\n",
        "conf/base/parameters_iris.yml": PARAMS,
    })
    conf = read_project_conf(project)
    with pytest.raises(ProjectConfError) as caught:
        load_parameters(conf)
    assert isinstance(caught.value, BricksmithError)
    assert "conf/base/parameters.yml" in caught.value.message
    assert "parameters_iris.yml" in caught.value.message
    assert "train_fraction" in caught.value.message


def test_broken_yaml_is_an_error_naming_the_file(tmp_path):
    project = make_project(tmp_path / "p", files={"conf/base/parameters.yml": "a: [1, 2\n"})
    with pytest.raises(ProjectConfError, match="parameters.yml"):
        load_parameters(read_project_conf(project))


def test_no_parameters_at_all_is_empty_as_in_kedro(tmp_path):
    project = make_project(tmp_path / "p", files={"conf/base/catalog.yml": "{}\n"})
    assert load_parameters(read_project_conf(project)) == {}


def test_missing_run_environment_folder_is_an_error(tmp_path):
    project = make_project(tmp_path / "p")
    (project / "conf/local/.gitkeep").unlink()
    (project / "conf/local").rmdir()
    with pytest.raises(ProjectConfError, match="'local'.*conf/local"):
        load_parameters(read_project_conf(project))
    assert load_parameters(read_project_conf(project), env="base") == {
        "train_fraction": 0.8, "random_state": 3}


def test_settings_that_cannot_be_evaluated_names_the_line(tmp_path):
    settings = '''
        from my_company.paths import conf_root

        CONF_SOURCE = conf_root()
    '''
    project = make_project(tmp_path / "p", settings)
    with pytest.raises(ProjectConfError) as caught:
        read_project_conf(project)
    message = caught.value.message
    assert "settings.py:4:" in message
    assert "CONF_SOURCE = conf_root()" in message
    assert "line 2" in message  # where conf_root comes from
    assert caught.value.hint


def test_settings_syntax_error_names_the_line(tmp_path):
    project = make_project(tmp_path / "p", "CONF_SOURCE = (\n")
    with pytest.raises(ProjectConfError, match=r"settings.py:1"):
        read_project_conf(project)


def test_other_loader_class_is_a_warning(tmp_path):
    settings = '''
        from my_company.config import MyLoader
        CONFIG_LOADER_CLASS = MyLoader
    '''
    conf = read_project_conf(make_project(tmp_path / "p", settings))
    assert len(conf.warnings) == 1 and "MyLoader" in conf.warnings[0]
    settings = '''
        from kedro.config import OmegaConfigLoader
        CONFIG_LOADER_CLASS = OmegaConfigLoader
    '''
    assert read_project_conf(make_project(tmp_path / "q", settings)).warnings == ()


def test_not_a_kedro_project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(ProjectConfError, match=r"\[tool.kedro\]"):
        read_project_conf(tmp_path)
    with pytest.raises(ProjectConfError, match="cannot be read"):
        read_project_conf(tmp_path / "missing")


def test_defining_file_follows_the_parameters_patterns(tmp_path):
    project = make_project(tmp_path / "p", files={
        "conf/base/parameters_iris.yml": PARAMS,
        "conf/base/pipelines/parameters.yml": "model_options: {test_size: 0.2}\n",
        "conf/base/.hidden/parameters.yml": "hidden: 1\n",
        "conf/local/parameters.yml": "local_only: 1\n",
    })
    conf = read_project_conf(project)
    base = project / "conf" / "base"
    assert parameter_files(conf) == [base / "parameters_iris.yml",
                                     base / "pipelines/parameters.yml"]
    assert defining_file(conf, ("train_fraction",)) == base / "parameters_iris.yml"
    assert defining_file(conf, ("model_options", "test_size")) == base / "pipelines/parameters.yml"
    # a new key under an existing mapping goes where the mapping is
    assert defining_file(conf, ("model_options", "new")) == base / "pipelines/parameters.yml"
    assert defining_file(conf, ("unknown",)) is None
    assert defining_file(conf, ("hidden",)) is None
    assert defining_file(conf, ("local_only",)) is None  # base env only
    local = project / "conf/local/parameters.yml"
    assert defining_file(conf, ("local_only",), env="local") == local


def test_loading_writes_nothing_into_the_project(tmp_path):
    project = make_project(tmp_path / "p", files={
        "conf/base/parameters.yml": PARAMS, "conf/local/.gitkeep": ""})
    before = snapshot(project)
    conf = read_project_conf(project)
    load_parameters(conf)
    defining_file(conf, ("train_fraction",))
    assert snapshot(project) == before


def test_key_paths_every_level():
    assert key_paths({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == [
        ("a",), ("a", "b"), ("a", "c"), ("a", "c", "d"), ("e",)]


def test_conf_source_set_inside_an_if(tmp_path, monkeypatch):
    settings = '''
        import os
        if os.environ.get("DEMO_PACKAGED_CONF"):
            CONF_SOURCE = "packaged"
        else:
            CONF_SOURCE = "conf"
    '''
    project = make_project(tmp_path / "p", settings)
    assert read_project_conf(project).conf_source == project / "conf"
    monkeypatch.setenv("DEMO_PACKAGED_CONF", "1")
    assert read_project_conf(project).conf_source == project / "packaged"
