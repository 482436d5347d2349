"""bricksmith's Kedro hooks of local runs (src/bricksmith/kedro_run): path mapping on a real
config loader and catalog, the write guard, metrics collection, and their registration."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from bricksmith.backends.run_sandbox import HOOKS_PATH

if str(HOOKS_PATH) not in sys.path:
    sys.path.append(str(HOOKS_PATH))

from bricksmith_run_hooks import DbfsUrlError, EscapingWriteError, RunHooks  # noqa: E402
from bricksmith_run_hooks.metrics import MetricsLog, numbers_in  # noqa: E402
from bricksmith_run_hooks.paths import PathMap, is_spark  # noqa: E402

PATHS = PathMap("/t/root/dbfs", "/t/root/Volumes")


class FileDataset(AbstractDataset):
    """A dataset that says where it writes, as kedro-datasets' file datasets do."""

    def __init__(self, filepath: str, options: dict | None = None) -> None:
        self.filepath, self.options = filepath, options or {}

    def load(self):
        return None

    def save(self, data) -> None:
        pass

    def _describe(self) -> dict:
        return {"filepath": self.filepath}


class SparkFileDataset(FileDataset):
    """Stands for a Spark dataset: the only kind that understands dbfs:/ on a cluster."""


FILE_DATASET = f"{__name__}.FileDataset"
SPARK_DATASET = f"{__name__}.SparkFileDataset"


@pytest.mark.parametrize(
    ("path", "mapped"),
    [
        ("/dbfs/FileStore/p/data/01_raw/iris.csv", "/t/root/dbfs/FileStore/p/data/01_raw/iris.csv"),
        ("/dbfs", "/t/root/dbfs"),
        ("dbfs:/FileStore/p/x.json", "/t/root/dbfs/FileStore/p/x.json"),
        ("dbfs:///FileStore/x", "/t/root/dbfs/FileStore/x"),
        ("dbfs:/", "/t/root/dbfs"),
        ("/Volumes/main/default/v/p.csv", "/t/root/Volumes/main/default/v/p.csv"),
        ("/dbfsx/a", "/dbfsx/a"),
        ("/FileStore/a", "/FileStore/a"),
        ("s3a://bucket/dbfs/a", "s3a://bucket/dbfs/a"),
        ("data/01_raw/iris.csv", "data/01_raw/iris.csv"),
    ],
)
def test_cluster_paths_map_into_the_roots(path, mapped):
    assert PATHS.map(path) == mapped


def test_map_config_walks_nested_values_and_counts():
    config = {
        "a": {"type": "x", "filepath": "/dbfs/a.csv", "load_args": {"path": "dbfs:/b"}},
        "b": {"filepath": "data/b.csv", "list": ["/Volumes/c/s/v/f", 3, None]},
    }
    mapped, changed = PATHS.map_config(config)
    assert changed == 3
    assert mapped["a"]["filepath"] == "/t/root/dbfs/a.csv"
    assert mapped["a"]["load_args"]["path"] == "/t/root/dbfs/b"
    assert mapped["b"] == {"filepath": "data/b.csv", "list": ["/t/root/Volumes/c/s/v/f", 3, None]}
    assert config["a"]["filepath"] == "/dbfs/a.csv"  # the original is left alone


@pytest.mark.parametrize(
    ("path", "escapes"),
    [
        ("/dbfs/FileStore/x", True),
        ("/FileStore/p/data", True),  # what SparkDataset makes of /dbfs/FileStore/...
        ("file:/FileStore/p/data", True),
        ("/Volumes/c/s/v/x", True),
        ("dbfs:/x", True),
        ("/t/root/dbfs/FileStore/x", False),
        ("/t/root/Volumes/c/s/v/x", False),
        ("/home/me/data.csv", False),
    ],
)
def test_escaping_writes_are_recognised(path, escapes):
    assert PATHS.escapes(path) is escapes


def test_from_env_only_in_a_local_run():
    assert PathMap.from_env({}) is None
    paths = PathMap.from_env({"BRICKSMITH_DBFS_ROOT": "/r/dbfs/"})
    assert paths == PathMap("/r/dbfs", "/r/Volumes")


def write_conf(folder: Path, catalog: str) -> Path:
    (folder / "base").mkdir(parents=True)
    (folder / "local").mkdir()
    (folder / "base" / "catalog.yml").write_text(catalog)
    return folder


class Context:
    def __init__(self, loader) -> None:
        self.config_loader = loader


CATALOG = f"""
raw:
  type: {FILE_DATASET}
  filepath: /dbfs/FileStore/p/data/01_raw/iris.csv
report:
  type: {SPARK_DATASET}
  filepath: ${{runtime_params:data_root, dbfs:/FileStore/p/data}}/08_reporting/metrics.json
"{{name}}@spark":
  type: {SPARK_DATASET}
  filepath: /dbfs/FileStore/p/data/02_intermediate/{{name}}.parquet
predictions:
  type: {FILE_DATASET}
  filepath: /Volumes/main/default/p/predictions.csv
local:
  type: {FILE_DATASET}
  filepath: data/local.csv
"""


def test_the_catalog_kedro_builds_has_the_mapped_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_DBFS_ROOT", str(tmp_path / "root/dbfs"))
    monkeypatch.setenv("BRICKSMITH_VOLUMES_ROOT", str(tmp_path / "root/Volumes"))
    loader = OmegaConfigLoader(str(write_conf(tmp_path / "conf", CATALOG)), base_env="base",
                               default_run_env="local")
    RunHooks().after_context_created(Context(loader))
    catalog = DataCatalog.from_config(loader["catalog"])
    dbfs = tmp_path / "root/dbfs/FileStore/p/data"
    assert catalog["raw"].filepath == f"{dbfs}/01_raw/iris.csv"
    assert catalog["report"].filepath == f"{dbfs}/08_reporting/metrics.json"
    assert catalog["X_train@spark"].filepath == f"{dbfs}/02_intermediate/X_train.parquet"
    volume = tmp_path / "root/Volumes/main/default/p"
    assert catalog["predictions"].filepath == f"{volume}/predictions.csv"
    assert catalog["local"].filepath == "data/local.csv"


@pytest.mark.parametrize(
    ("kind", "spark"),
    [
        ("spark.SparkDataset", True),
        ("kedro_datasets.spark.SparkDataset", True),
        ("spark.DeltaTableDataset", True),
        ("databricks.ManagedTableDataset", True),
        ("pandas.CSVDataset", False),
        ("pickle.PickleDataset", False),
        ("json.JSONDataset", False),
        ("kedro_datasets.pandas.ParquetDataset", False),
        (None, False),
    ],
)
def test_only_spark_datasets_are_spark(kind, spark):
    assert is_spark({"type": kind, "filepath": "x"}) is spark


def test_a_non_spark_dataset_with_a_dbfs_url_fails_as_on_a_cluster(tmp_path, monkeypatch):
    """kedro-datasets reads dbfs:/X as the relative local path 'dbfs:/X' on a cluster (Kedro
    issue 2272): a local run refuses it, naming each dataset and the /dbfs/X form."""
    monkeypatch.setenv("BRICKSMITH_DBFS_ROOT", str(tmp_path / "root/dbfs"))
    catalog = CATALOG + """
y_test:
  type: pickle.PickleDataset
  filepath: dbfs:/FileStore/p/data/05_model_input/y_test.pkl
iris_pandas:
  type: pandas.CSVDataset
  filepath: dbfs:/FileStore/p/data/01_raw/iris.csv
"""
    loader = OmegaConfigLoader(str(write_conf(tmp_path / "conf", catalog)), base_env="base",
                               default_run_env="local")
    with pytest.raises(DbfsUrlError) as caught:
        RunHooks().after_context_created(Context(loader))
    message = str(caught.value)
    assert "dataset 'y_test' (pickle.PickleDataset) uses dbfs:/FileStore/p/data/05_model_input/" \
        "y_test.pkl: use /dbfs/FileStore/p/data/05_model_input/y_test.pkl" in message
    assert "dataset 'iris_pandas' (pandas.CSVDataset)" in message
    assert "'report'" not in message and "only Spark" in message  # Spark keeps dbfs:/
    assert not (tmp_path / "root").exists()  # nothing written


def test_runtime_params_still_win(tmp_path, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_DBFS_ROOT", str(tmp_path / "root/dbfs"))
    loader = OmegaConfigLoader(
        str(write_conf(tmp_path / "conf", CATALOG)),
        base_env="base",
        default_run_env="local",
        runtime_params={"data_root": "/dbfs/elsewhere"},
    )
    RunHooks().after_context_created(Context(loader))
    report = loader["catalog"]["report"]["filepath"]
    assert report == f"{tmp_path}/root/dbfs/elsewhere/08_reporting/metrics.json"


def test_nothing_is_mapped_outside_a_local_run(tmp_path, monkeypatch):
    monkeypatch.delenv("BRICKSMITH_DBFS_ROOT", raising=False)
    loader = OmegaConfigLoader(str(write_conf(tmp_path / "conf", CATALOG)), base_env="base",
                               default_run_env="local")
    RunHooks().after_context_created(Context(loader))
    assert loader["catalog"]["raw"]["filepath"] == "/dbfs/FileStore/p/data/01_raw/iris.csv"


def test_a_missing_catalog_is_left_to_kedro(tmp_path, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_DBFS_ROOT", str(tmp_path / "dbfs"))

    class Broken:
        def __getitem__(self, key):
            raise KeyError(key)

    RunHooks().after_context_created(Context(Broken()))  # no error of its own


def test_a_dataset_writing_the_machines_dbfs_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_DBFS_ROOT", str(tmp_path / "dbfs"))
    catalog = DataCatalog(
        {
            "escaping": FileDataset("/FileStore/p/x.parquet"),
            "mapped": FileDataset(str(tmp_path / "dbfs/FileStore/p/x.parquet")),
            "memory": MemoryDataset(),
        }
    )
    hooks = RunHooks()
    hooks.after_catalog_created(catalog)
    with pytest.raises(EscapingWriteError, match="/FileStore/p/x.parquet"):
        hooks.before_dataset_saved("escaping")
    hooks.before_dataset_saved("mapped")
    hooks.before_dataset_saved("memory")
    hooks.before_dataset_saved("not-in-the-catalog")


class Series:
    """Duck-typed one-dimensional pandas object."""

    ndim = 1

    def __init__(self, data: dict) -> None:
        self.data = data

    def to_dict(self) -> dict:
        return dict(self.data)


def test_numbers_in():
    assert numbers_in(0.5, "a") == {"a": 0.5}
    assert numbers_in(True, "a") == {}
    assert numbers_in(float("nan"), "a") == {}
    assert numbers_in("0.5", "a") == {}
    assert numbers_in({"x": 1, "y": {"z": 2.5, "s": "no"}, "b": False}) == {"x": 1, "y.z": 2.5}
    assert numbers_in(Series({"r2": 0.9})) == {"r2": 0.9}


def test_metrics_log_names_and_sources(tmp_path):
    log = MetricsLog()
    log.saved("model_metrics", {"accuracy": 0.9, "n": 10}, "json.JSONDataset")
    log.saved("predictions", {"accuracy": 0.1}, "pandas.CSVDataset")  # name says nothing
    log.saved("metrics", {"accuracy": 0.8}, "MemoryDataset")
    log.free_outputs(
        {
            "metrics": MemoryDataset({"accuracy": 0.8}),
            "loss": MemoryDataset(0.25),
            "frame": MemoryDataset([1, 2]),
            "model_metrics": FileDataset("x"),  # seen saved: not read back
        }
    )
    metrics, sources = log.named()
    assert metrics == {"loss": 0.25, "accuracy": 0.8, "model_metrics.accuracy": 0.9, "n": 10}
    assert sources == {
        "loss": "free output 'loss'",
        "accuracy": "free output 'metrics'",
        "model_metrics.accuracy": "dataset 'model_metrics' (json.JSONDataset)",
        "n": "dataset 'model_metrics' (json.JSONDataset)",
    }
    path = tmp_path / "out" / "metrics.json"
    log.write(str(path))
    assert json.loads(path.read_text()) == {"metrics": metrics, "sources": sources}


def test_the_hooks_collect_metrics_only_in_a_local_run(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    hooks = RunHooks()
    hooks.after_catalog_created(DataCatalog({"scores_metrics": MemoryDataset()}))
    hooks.before_pipeline_run(Pipeline([]))
    hooks.after_dataset_saved("scores_metrics", {"f1": 0.5})
    monkeypatch.delenv("BRICKSMITH_METRICS_FILE", raising=False)
    hooks.after_pipeline_run({"acc": MemoryDataset(0.75)})
    assert not path.exists()

    monkeypatch.setenv("BRICKSMITH_METRICS_FILE", str(path))
    hooks.before_pipeline_run(Pipeline([]))
    hooks.after_dataset_saved("scores_metrics", {"f1": 0.5})
    hooks.after_pipeline_run({"acc": MemoryDataset(0.75)})
    written = json.loads(path.read_text())
    assert written["metrics"] == {"acc": 0.75, "f1": 0.5}
    assert written["sources"]["f1"] == "dataset 'scores_metrics' (MemoryDataset)"


def test_kedro_finds_the_hooks_through_their_entry_point():
    found = [
        entry
        for dist in importlib.metadata.distributions(path=[str(HOOKS_PATH)])
        for entry in dist.entry_points
        if entry.group == "kedro.hooks"
    ]
    assert [entry.name for entry in found] == ["bricksmith_run_hooks"]
    assert isinstance(found[0].load(), RunHooks)
