"""RunSandbox: the emulated cluster's surroundings of a local run (environment variables, Spark
in local mode, Java), and the kernel's write guard."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from bricksmith.backends import run_sandbox
from bricksmith.backends.local_runner import run_notebook
from bricksmith.backends.run_sandbox import HOOKS_PATH, RunSandbox, java_home
from bricksmith.errors import RunFailedError

KERNEL = Path(run_sandbox.__file__).with_name("notebook_kernel.py")


def fake_env(folder: Path, *, pyspark: bool) -> Path:
    """A run environment's layout: bin/python (this interpreter) and, if asked, pyspark."""
    site = folder / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    if pyspark:
        (site / "pyspark").mkdir()
        (site / "pyspark" / "__init__.py").write_text("")
    (folder / "bin").mkdir()
    python = folder / "bin" / "python"
    python.symlink_to(sys.executable)
    return python


def fake_java(folder: Path) -> Path:
    java = folder / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    return java


def test_under_a_root(tmp_path):
    sandbox = RunSandbox.under(tmp_path / "root", "split-70")
    assert sandbox.dbfs == tmp_path / "root" / "dbfs"
    assert sandbox.volumes == tmp_path / "root" / "Volumes"
    assert sandbox.work == tmp_path / "root" / "cluster" / "split-70"
    assert sandbox.metrics_file == sandbox.work / "metrics.json"


def test_prepare_without_spark_empties_the_scratch_folder(tmp_path):
    python = fake_env(tmp_path / "env", pyspark=False)
    sandbox = RunSandbox.under(tmp_path / "root", "run")
    (sandbox.work / "tmp").mkdir(parents=True)
    (sandbox.work / "tmp" / "stale").write_text("from a killed run")
    (sandbox.work / "metrics.json").write_text("{}")
    env = sandbox.prepare(python, {"PATH": ""})  # no Java needed
    assert env == {
        "BRICKSMITH_DBFS_ROOT": str(sandbox.dbfs),
        "BRICKSMITH_VOLUMES_ROOT": str(sandbox.volumes),
        "BRICKSMITH_RUN_HOOKS_PATH": str(HOOKS_PATH),
        "BRICKSMITH_METRICS_FILE": str(sandbox.metrics_file),
        "TMPDIR": str(sandbox.work / "tmp"),
    }
    assert list((sandbox.work / "tmp").iterdir()) == []
    assert not sandbox.metrics_file.exists()
    quiet = RunSandbox.under(tmp_path / "root", "job", collect_metrics=False)
    assert "BRICKSMITH_METRICS_FILE" not in quiet.prepare(python, {})


def test_prepare_with_spark_keeps_sparks_files_in_the_scratch_folder(tmp_path):
    python = fake_env(tmp_path / "env", pyspark=True)
    java = fake_java(tmp_path)
    sandbox = RunSandbox.under(tmp_path / "root", "run")
    env = sandbox.prepare(python, {"PATH": str(java.parent)})
    spark = sandbox.work / "spark"
    assert env["JAVA_HOME"] == str(java.parent.parent)
    assert env["SPARK_CONF_DIR"] == str(spark / "conf")
    assert env["SPARK_LOCAL_DIRS"] == str(spark / "local")
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == str(python)
    defaults = dict(
        line.split(" ", 1) for line in (spark / "conf/spark-defaults.conf").read_text().splitlines()
    )
    assert defaults["spark.master"] == "local[*]"
    assert defaults["spark.sql.warehouse.dir"] == str(spark / "warehouse")
    assert defaults["spark.hadoop.hive.exec.scratchdir"] == str(spark / "hive")
    options = defaults["spark.driver.defaultJavaOptions"]
    assert f"-Djava.io.tmpdir={sandbox.work / 'tmp'}" in options
    assert f"-Dderby.system.home={spark / 'derby'}" in options


def test_java_home_from_the_environment_or_the_path(tmp_path):
    java = fake_java(tmp_path)
    jdk = str(java.parent.parent)
    assert java_home({"JAVA_HOME": jdk}) == jdk
    assert java_home({"PATH": str(java.parent)}) == jdk
    with pytest.raises(RunFailedError, match="no `java` on the PATH and JAVA_HOME") as caught:
        java_home({"PATH": str(tmp_path / "empty")})
    assert "openjdk-17" in caught.value.hint
    with pytest.raises(RunFailedError, match="JAVA_HOME .* has no bin/java"):
        java_home({"JAVA_HOME": str(tmp_path / "nowhere")})


def test_a_spark_run_without_java_fails_before_the_kernel_starts(tmp_path, monkeypatch):
    python = fake_env(tmp_path / "env", pyspark=True)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    notebook = tmp_path / "nb.py"
    notebook.write_text("# Databricks notebook source\nprint('never')\n")
    started = []
    with pytest.raises(RunFailedError, match="needs Java"):
        run_notebook(
            notebook,
            python=python,
            widgets={},
            requirements_key="",
            log_path=tmp_path / "run.log",
            workdir=tmp_path / "work",
            on_start=started.append,
            sandbox=RunSandbox.under(tmp_path / "root", "run"),
        )
    assert started == []


def test_collected_reads_what_the_hooks_wrote(tmp_path):
    sandbox = RunSandbox.under(tmp_path, "run")
    assert sandbox.collected() is None
    sandbox.work.mkdir(parents=True)
    sandbox.metrics_file.write_text("not json")
    assert sandbox.collected() is None
    written = {"metrics": {"a": 1}, "sources": {"a": "free output 'a'"}}
    sandbox.metrics_file.write_text(json.dumps(written))
    assert sandbox.collected() == written


# The kernel's side: the write guard (an audit hook) and robust log records.


@pytest.fixture(scope="module")
def kernel():
    spec = importlib.util.spec_from_file_location("notebook_kernel_for_sandbox_test", KERNEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("event", "args", "refused"),
    [
        ("open", ("/dbfs/x", "w", os.O_WRONLY | os.O_CREAT), "/dbfs/x"),
        ("open", ("/dbfs/x", "r", os.O_RDONLY), None),  # reading is fine
        ("open", ("/FileStore/a/../b", None, os.O_RDWR), "/FileStore/b"),
        ("open", (3, "w", os.O_WRONLY), None),  # a file descriptor
        ("open", (b"/Volumes/c/s/v/f", "ab", os.O_APPEND), "/Volumes/c/s/v/f"),
        ("open", ("/t/root/dbfs/x", "w", os.O_WRONLY), None),  # the emulated DBFS
        ("open", ("/home/me/x", "w", os.O_WRONLY), None),
        ("os.mkdir", ("/dbfs", 0o777, None), "/dbfs"),
        ("os.rename", ("/t/root/dbfs/a", "/FileStore/a", None, None), "/FileStore/a"),
        ("os.remove", ("/dbfs/FileStore/a", None), "/dbfs/FileStore/a"),
        ("shutil.rmtree", ("/Volumes", None), "/Volumes"),
        ("os.listdir", ("/dbfs",), None),
    ],
)
def test_write_guard(kernel, event, args, refused):
    guard = kernel.WriteGuard(["/t/root/dbfs", "/t/root/Volumes"])
    if refused is None:
        guard(event, args)
        return
    with pytest.raises(PermissionError) as caught:
        guard(event, args)
    assert caught.value.filename == refused
    assert "/t/root/dbfs" in str(caught.value)


def test_safe_log_record(kernel):
    record = kernel.SafeLogRecord("n", 20, __file__, 1, "acc %.3f of %d", (object(), 2), None)
    message = record.getMessage()
    assert message.startswith("acc %.3f of %d (log arguments that do not fit the format, ")
    assert "TypeError" in message and "object object at" in message
    assert kernel.SafeLogRecord("n", 20, __file__, 1, "ok %d", (3,), None).getMessage() == "ok 3"
    long = kernel.SafeLogRecord("n", 20, __file__, 1, "%d", ("x" * 5000,), None).getMessage()
    assert len(long) < 600 and long.endswith("...)")


def test_prepare_never_empties_a_folder_bricksmith_did_not_make(tmp_path):
    python = fake_env(tmp_path / "env", pyspark=False)
    root = tmp_path / "root"
    sandbox = RunSandbox.under(root, "baseline")
    sandbox.work.mkdir(parents=True)
    (sandbox.work / "my-cluster.json").write_text("{}")  # the user's
    with pytest.raises(RunFailedError, match="did not make it") as refused:
        sandbox.prepare(python, {"PATH": ""})
    assert "move that folder away" in refused.value.hint
    assert (sandbox.work / "my-cluster.json").read_text() == "{}"

    other = RunSandbox.under(root, "split-70")  # made (and noted) by bricksmith: emptied
    other.prepare(python, {"PATH": ""})
    (other.work / "result.json").write_text("{}")
    (other.work / "kept-by-a-run").write_text("x")
    other.prepare(python, {"PATH": ""})
    assert sorted(p.name for p in other.work.iterdir()) == ["tmp"]
    from bricksmith.made import Made

    assert Made(root).paths() == {"cluster/split-70"}  # cluster/ was there already
    assert other.result_file == other.work / "result.json"
