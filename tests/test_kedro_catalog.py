"""The catalog of a run, resolved as Kedro resolves it (bricksmith.kedro_catalog)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bricksmith.errors import ProjectConfError
from bricksmith.kedro_catalog import (
    fuse_path,
    referenced_runtime_params,
    resolve_catalog,
    run_runtime_params,
)

CATALOG = """\
_csv: &csv
  type: pandas.CSVDataset

example_iris_data:
  <<: *csv
  filepath: "${runtime_params:data_root, /dbfs/FileStore/iris/data}/01_raw/iris.csv"
  metadata:
    kedro-viz:
      layer: raw

y_pred:
  type: pickle.PickleDataset
  filepath: /dbfs/FileStore/iris/data/07_model_output/y_pred.pkl
  versioned: true

X_train:
  type: MemoryDataset

cached:
  type: CachedDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/02_intermediate/cached.pkl

"{name}_table":
  type: pandas.ParquetDataset
  filepath: data/03_primary/{name}.parquet
"""


def make_project(folder: Path, catalog: str = CATALOG, *, settings: str | None = None,
                 conf: str = "conf", local: bool = True) -> Path:
    """A Kedro project with just what its configuration needs."""
    (folder / "src" / "demo").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[tool.kedro]\npackage_name = "demo"\nproject_name = "demo"\n'
        'kedro_init_version = "1.7.0"\nsource_dir = "src"\n')
    if settings is not None:
        (folder / "src" / "demo" / "settings.py").write_text(settings)
    (folder / conf / "base").mkdir(parents=True)
    if local:
        (folder / conf / "local").mkdir()
    (folder / conf / "base" / "catalog.yml").write_text(catalog)
    return folder


def test_runtime_params_data_root_decides_the_path_and_its_default_holds_without_it(tmp_path):
    project = make_project(tmp_path)
    given = resolve_catalog(project, runtime_params={"data_root": "/dbfs/elsewhere"})
    assert given.dataset("example_iris_data").path == "/dbfs/elsewhere/01_raw/iris.csv"
    default = resolve_catalog(project, runtime_params={})
    assert default.dataset("example_iris_data").path == "/dbfs/FileStore/iris/data/01_raw/iris.csv"
    assert given.env == "local"


def test_each_dataset_says_its_type_path_versioning_persistence_and_layer(tmp_path):
    catalog = resolve_catalog(make_project(tmp_path), runtime_params={})
    assert "_csv" not in {d.name for d in catalog.datasets}  # YAML anchors are not datasets
    raw = catalog.dataset("example_iris_data")
    assert (raw.type, raw.versioned, raw.persisted, raw.layer) == (
        "pandas.CSVDataset", False, True, "raw")
    y_pred = catalog.dataset("y_pred")
    assert y_pred.versioned and y_pred.persisted and not y_pred.pattern
    assert y_pred.path == "/dbfs/FileStore/iris/data/07_model_output/y_pred.pkl"
    memory = catalog.dataset("X_train")
    assert not memory.persisted and memory.path is None
    assert catalog.dataset("cached").path == "data/02_intermediate/cached.pkl"


def test_dataset_factories_are_listed_as_patterns_with_their_path_template(tmp_path):
    catalog = resolve_catalog(make_project(tmp_path), runtime_params={})
    (pattern,) = catalog.patterns
    assert pattern.name == "{name}_table" and pattern.pattern
    assert pattern.path == "data/03_primary/{name}.parquet"


def test_the_run_environment_overrides_base_and_settings_py_moves_the_conf_source(tmp_path):
    project = make_project(
        tmp_path, conf="settings_conf",
        settings='CONF_SOURCE = "settings_conf"\n'
                 'CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "prod"}\n',
        local=False)
    (project / "settings_conf" / "prod").mkdir()
    (project / "settings_conf" / "prod" / "catalog.yml").write_text(
        "y_pred:\n  type: pickle.PickleDataset\n  filepath: /Volumes/main/ml/out/y_pred.pkl\n")
    catalog = resolve_catalog(project, runtime_params={})
    assert catalog.env == "prod"
    assert catalog.dataset("y_pred").path == "/Volumes/main/ml/out/y_pred.pkl"
    assert not catalog.dataset("y_pred").versioned  # prod's entry replaces base's whole
    assert project / "settings_conf" / "prod" / "catalog.yml" in catalog.conf_files


def test_a_missing_run_environment_or_a_broken_catalog_is_a_clear_error(tmp_path):
    with pytest.raises(ProjectConfError, match="'local'.*conf/local"):
        resolve_catalog(make_project(tmp_path / "a", local=False), runtime_params={})
    broken = make_project(tmp_path / "b", "x:\n  filepath: ${runtime_params:nowhere}\n")
    with pytest.raises(ProjectConfError, match="cannot load the catalog"):
        resolve_catalog(broken, runtime_params={})


def test_the_runtime_params_a_run_gives_kedro(tmp_path):
    assert fuse_path("dbfs:/FileStore/x/data/") == "/dbfs/FileStore/x/data"
    assert fuse_path("/Volumes/main/s/v/") == "/Volumes/main/s/v"
    assert run_runtime_params("dbfs:/FileStore/x", {"train_fraction": 0.7}) == {
        "data_root": "/dbfs/FileStore/x", "train_fraction": 0.7}
    assert run_runtime_params(None, {"data_root": "/mine"}) == {"data_root": "/mine"}
    assert referenced_runtime_params(make_project(tmp_path)) == {"data_root"}


def test_runtime_params_referenced_in_the_run_environment_count_too(tmp_path):
    project = make_project(tmp_path, "a:\n  type: MemoryDataset\n")
    (project / "conf" / "local" / "catalog.yml").write_text(
        "b:\n  type: pickle.PickleDataset\n  filepath: ${runtime_params:out_dir}/b.pkl\n")
    assert referenced_runtime_params(project) == {"out_dir"}
    catalog = resolve_catalog(project, runtime_params={"out_dir": "/dbfs/o"})
    assert catalog.dataset("b").path == "/dbfs/o/b.pkl"
