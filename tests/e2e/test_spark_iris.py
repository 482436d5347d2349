"""Acceptance: a Spark project written for Databricks, applied unchanged on the local backend
and on the emulator (tests/fixtures/spark_iris: Spark CSV from /dbfs/..., Parquet
intermediates, a SparkHooks building the session from spark.yml, a metrics dataset, a node that
logs a pandas Series with %.3f).

Marked ``spark``: the run environment gets pyspark (~400 MB, built once per cache) and needs
Java. Without ``java`` these tests are skipped, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from pathlib import Path

import pytest

from bricksmith.emulator import DEFAULT_CLUSTER_ID
from bricksmith.engine.state import StateStore
from tests.e2e.conftest import tree

pytestmark = pytest.mark.spark

STARTER = Path(__file__).resolve().parents[1] / "fixtures" / "spark_iris"
MACHINE_FOLDERS = (Path("/dbfs"), Path("/FileStore"), Path("/Volumes"))
SPARK_LEFTOVERS = ("spark-*", "blockmgr-*", "hive", "derby.log", "metastore_db", "hsperfdata_*")
LOCAL_TARGET = """target: local
targets:
  local:
    backend: local
    root: .bricksmith/local
"""
SPEC = """\
version: 1
name: spark-iris
project:
  starter: {starter}
  path: spark-iris
  params:
    train_fraction: 0.8
repo:
  remote: spark-iris.git
  branch: main
{target}
data:
  - source: data
    target: dbfs:/FileStore/spark-iris/data
runs:
  - name: baseline
"""


@pytest.fixture(autouse=True)
def _java():
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return
    if os.environ.get("CI"):
        pytest.fail("the spark tests need Java 17+ (pyspark), and CI must have it")
    pytest.skip("needs Java for pyspark (with CI set, this is a failure)")


def write_spec(folder: Path, target: str = LOCAL_TARGET) -> Path:
    spec = folder / "spark-iris.yaml"
    spec.write_text(SPEC.format(starter=STARTER, target=target.rstrip("\n")))
    return spec


def snapshot() -> dict[str, object]:
    """What exists of the machine's DBFS/volume folders and of Spark's usual temp files."""
    state: dict[str, object] = {
        str(folder): tree(folder) if folder.is_dir() else folder.exists()
        for folder in MACHINE_FOLDERS
    }
    tmp = os.environ.get("TMPDIR", "/tmp")
    state["tmp"] = sorted(p for pattern in SPARK_LEFTOVERS for p in glob.glob(f"{tmp}/{pattern}"))
    return state


def run_outputs(root: Path, name: str) -> dict:
    record = StateStore(root / "state.db").all()[f"run.{name}"]
    assert record.status == "succeeded", record.error
    return record.outputs


def test_spark_project_runs_unchanged_on_the_local_backend(cli, tmp_path, capsys):
    before = snapshot()
    spec = write_spec(tmp_path)
    root = tmp_path / ".bricksmith/local"

    started = time.monotonic()
    first = cli("apply", spec)
    cold = time.monotonic() - started
    assert first.code == 0, first.out + first.err

    outputs = run_outputs(root, "baseline")
    metrics, sources = outputs["metrics"], outputs["metric_sources"]
    assert 0 < metrics["accuracy"] <= 1
    assert metrics["n_train"] + metrics["n_test"] == 150
    assert metrics["train_fraction"] == 0.8
    # the exit value has the numeric free output; the hooks found the metrics dataset too
    assert sources["accuracy"] == "notebook exit value (free output 'accuracy')"
    assert sources["n_train"] == "dataset 'model_metrics' (json.JSONDataset)"
    built = "environment built" if outputs["_environment_built"] else "environment cached"

    dbfs = root / "dbfs/FileStore/spark-iris/data"
    for split in ("train", "test"):
        assert list((dbfs / "02_intermediate" / f"{split}.parquet").glob("part-*.parquet"))
    assert (dbfs / "08_reporting/model_metrics.json").is_file()  # /dbfs/ (not Spark)
    assert (root / "Volumes/main/default/spark_iris/predictions.csv").is_file()
    assert (root / "cluster/baseline/spark/conf/spark-defaults.conf").is_file()
    assert snapshot() == before  # nothing on the machine's /dbfs, /FileStore, /Volumes, /tmp
    relative_spark_paths_land_in_the_emulated_dbfs(outputs["_environment"], tmp_path)

    log = (root / "logs/runs/baseline.log").read_text()
    assert "Model has an accuracy of %.3f on test data." in log
    assert "log arguments that do not fit the format" in log
    assert "Logging error" not in log
    notebook_dir = root / "Workspace/Users/local-user/.bricksmith/spark-iris"
    repo = root / "Workspace/Repos/local-user/spark-iris"
    for folder in (notebook_dir, repo):
        assert not {"spark-warehouse", "metastore_db", "derby.log"} & {
            p.name for p in folder.iterdir()
        }

    status = cli("status", spec, "--json")
    assert status.code == 0
    assert status.json()["runs"][0]["metrics"] == metrics

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    started = time.monotonic()
    again = cli("apply", spec)
    warm = time.monotonic() - started
    assert again.code == 0, again.out + again.err
    outputs = run_outputs(root, "baseline")
    assert outputs["metrics"]["train_fraction"] == 0.7
    assert outputs["metrics"]["n_train"] < metrics["n_train"]
    assert outputs["_environment_built"] is False
    assert snapshot() == before
    with capsys.disabled():
        print(f"\n[spark e2e, local] first apply ({built}) {cold:.1f} s, re-apply {warm:.1f} s")


def test_spark_project_runs_unchanged_on_the_emulator(cli, tmp_path, emulator, monkeypatch):
    before = snapshot()
    target = f"""target: emulated
targets:
  emulated:
    backend: databricks
    host: {emulator.url}
    cluster_id: {DEFAULT_CLUSTER_ID}
    root: .bricksmith/emulated
"""
    spec = write_spec(tmp_path, target)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    done = cli("apply", spec)
    assert done.code == 0, done.out + done.err

    outputs = run_outputs(tmp_path / ".bricksmith/emulated", "baseline")
    # a job run reports only its exit value: the numeric free output
    assert 0 < outputs["metrics"]["accuracy"] <= 1
    assert outputs["metric_sources"] == {"accuracy": "notebook exit value"}
    dbfs = emulator.root / "dbfs/FileStore/spark-iris/data"
    assert list((dbfs / "02_intermediate/train.parquet").glob("part-*.parquet"))
    assert (dbfs / "08_reporting/model_metrics.json").is_file()
    assert (emulator.root / "Volumes/main/default/spark_iris/predictions.csv").is_file()
    assert snapshot() == before


PROBE = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
spark.range(3).write.parquet("relative/out.parquet")
spark.stop()
import pandas
try:
    pandas.read_parquet("relative/out.parquet")
    print("pandas found it")
except FileNotFoundError:
    print("pandas: not found")
"""


def relative_spark_paths_land_in_the_emulated_dbfs(environment: str, tmp_path: Path) -> None:
    """With the Spark settings of a local run, a relative Spark path lands in the emulated DBFS
    root, as on Databricks (Spark resolves it against DBFS), and pandas, which resolves it
    against the driver's working directory, does not find it there: as on a cluster."""
    import subprocess

    from bricksmith.backends.run_sandbox import RunSandbox
    from bricksmith.cachedir import default_cache_dir

    python = default_cache_dir() / "envs" / environment / "bin" / "python"
    sandbox = RunSandbox.under(tmp_path / "probe", "probe")
    env = {**os.environ, **sandbox.prepare(python)}
    cwd = tmp_path / "driver-cwd"
    cwd.mkdir()
    done = subprocess.run([str(python), "-c", PROBE], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((sandbox.dbfs / "relative/out.parquet").glob("part-*.parquet"))
    assert not (cwd / "relative").exists()
    assert "pandas: not found" in done.stdout
