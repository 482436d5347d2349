"""The local cluster kept between applies (issue 19.1): one driver per target root and
requirement set, a clean forked kernel per run, stopped when idle or by destroy, and never a
run executed twice. These run small notebooks with bricksmith's own Python (which has IPython
and Kedro), so no run environment is built; tests/e2e/test_local_cluster.py runs the seed."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from bricksmith.backends.kernels import KernelProcess, find_kernel, wait_for
from bricksmith.backends.local_cluster import LocalCluster, _Lines, drivers, stop_drivers
from bricksmith.backends.run_sandbox import RunSandbox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

KEY = "ab" * 32
BOUND_S = 120  # only keeps a broken test from hanging; nothing is timed

NOTEBOOK = """# Databricks notebook source
import os, sys
sys.path.insert(0, dbutils.widgets.get("modules"))
import probe_module

# COMMAND ----------

leaked = globals().get("LEAKED", "clean")
LEAKED = "from an earlier run"
dbutils.notebook.exit(json.dumps({
    "value": probe_module.VALUE, "widget": dbutils.widgets.get("w"), "leaked": leaked,
    "secret": os.environ.get("BRICKSMITH_TEST_SECRET"), "pid": os.getpid(),
    "cwd": os.getcwd()}))
"""


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "modules").mkdir()
    (tmp_path / "nb.py").write_text(NOTEBOOK.replace("dbutils.notebook.exit", "import json\n"
                                                     "dbutils.notebook.exit", 1))
    yield root
    stop_drivers(root)


def _module(tmp_path: Path, value: str) -> None:
    path = tmp_path / "modules" / "probe_module.py"
    path.write_text(f"VALUE = {value!r}\n")
    future = time.time() + 2  # a new mtime, whatever the file system's resolution
    os.utime(path, (future, future))


def _run(tmp_path: Path, cluster: LocalCluster, name: str, widget: str, **kwargs):
    sandbox = RunSandbox.under(cluster.root, name, collect_metrics=False)
    result = cluster.run_notebook(
        tmp_path / "nb.py", python=Path(sys.executable),
        widgets={"w": widget, "modules": str(tmp_path / "modules")},
        requirements_key=KEY, log_path=cluster.root / "logs" / f"{name}.log",
        workdir=tmp_path / "work", timeout=BOUND_S, sandbox=sandbox, **kwargs)
    assert result.ok, result.log_tail
    return json.loads(result.exit_value), cluster.driver_pid


def test_runs_share_one_driver_and_each_starts_clean(tmp_path, root, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_TEST_SECRET", "s3cr3t-value")
    _module(tmp_path, "first")
    cluster = LocalCluster(root, Path(sys.executable), KEY, idle_s=300)
    one, driver = _run(tmp_path, cluster, "one", "a")
    _module(tmp_path, "second")  # the project's module edited between runs
    two, again = _run(tmp_path, LocalCluster(root, Path(sys.executable), KEY, 300), "two", "b")
    assert driver == again and KernelProcess.of(driver).alive()
    assert (one["value"], one["widget"], one["leaked"]) == ("first", "a", "clean")
    assert (two["value"], two["widget"], two["leaked"]) == ("second", "b", "clean")
    assert one["pid"] != two["pid"] != driver
    assert one["secret"] == two["secret"] == "s3cr3t-value"  # the apply's environment
    assert one["cwd"] == str(tmp_path / "work")
    # each run's log is its own; the driver's command line and environment hold no secret
    assert "cell 2/2" in (root / "logs/one.log").read_text()
    assert (root / "logs/one.log").read_text().count("[notebook] exited") == 1
    for part in ("cmdline", "environ"):
        assert b"s3cr3t-value" not in Path(f"/proc/{driver}/{part}").read_bytes()
    # the forked kernel is found by its result file (a killed apply's re-attach)
    record = json.loads((root / "cluster/two/kernel.json").read_text())
    assert record["pid"] == two["pid"] and record["driver"] == driver


def test_a_requester_gone_before_go_gets_no_run(tmp_path, root):
    _module(tmp_path, "x")
    cluster = LocalCluster(root, Path(sys.executable), KEY, idle_s=300)
    assert cluster.ensure()
    sandbox = RunSandbox.under(root, "gone", collect_metrics=False)
    sandbox.prepare(Path(sys.executable))
    widgets = sandbox.work / "widgets.json"
    widgets.write_text(json.dumps({"w": "x", "modules": str(tmp_path / "modules")}))
    log = root / "gone.log"
    sock = cluster.connect()
    argv = ["--notebook", str(tmp_path / "nb.py"), "--widgets-file", str(widgets),
            "--result", str(sandbox.result_file), "--requirements-key", KEY]
    sock.sendall((json.dumps({"run": {"argv": argv, "env": dict(os.environ),
                                      "cwd": str(tmp_path), "log": str(log)}}) + "\n").encode())
    reply = _Lines(sock).next()
    kernel = KernelProcess(reply["pid"], reply["start"])
    assert find_kernel(None, sandbox.result_file) in (kernel, None)
    sock.close()  # the apply was killed before it checkpointed the kernel: no "go"
    assert wait_for(kernel, time.monotonic() + BOUND_S)
    assert not sandbox.result_file.exists() and not log.exists()


def test_a_changed_requirement_set_gets_a_new_driver_and_the_old_one_stops(tmp_path, root):
    _module(tmp_path, "x")
    _, old = _run(tmp_path, LocalCluster(root, Path(sys.executable), KEY, 300), "one", "a")
    _, new = _run(tmp_path, LocalCluster(root, Path(sys.executable), "cd" * 32, 300), "two", "b")
    assert new != old
    assert wait_for(KernelProcess.of(old), time.monotonic() + BOUND_S)
    assert [driver.pid for _, driver in drivers(root)] == [new]


def test_the_idle_timeout_stops_the_driver(tmp_path, root):
    _module(tmp_path, "x")
    cluster = LocalCluster(root, Path(sys.executable), KEY, idle_s=0.5)
    _, driver = _run(tmp_path, cluster, "one", "a")
    assert wait_for(KernelProcess.of(driver), time.monotonic() + BOUND_S)
    assert drivers(root) == [] and not (cluster.folder / "driver.json").exists()


def test_stop_drivers_leaves_no_process(tmp_path, root):
    _module(tmp_path, "x")
    cluster = LocalCluster(root, Path(sys.executable), KEY, idle_s=300)
    _, driver = _run(tmp_path, cluster, "one", "a")
    process = KernelProcess.of(driver)
    assert stop_drivers(root) == [driver]
    assert not process.alive() and drivers(root) == []


def test_changed_kedro_variables_get_a_new_driver(tmp_path, root, monkeypatch):
    """Kedro reads KEDRO_* variables when imported: the driver imported it with the old ones."""
    _module(tmp_path, "x")
    monkeypatch.setenv("KEDRO_LOGGING_CONFIG", str(tmp_path / "one.yml"))
    _, old = _run(tmp_path, LocalCluster(root, Path(sys.executable), KEY, 300), "one", "a")
    monkeypatch.setenv("KEDRO_LOGGING_CONFIG", str(tmp_path / "two.yml"))
    _, new = _run(tmp_path, LocalCluster(root, Path(sys.executable), KEY, 300), "two", "b")
    assert new != old
    assert wait_for(KernelProcess.of(old), time.monotonic() + BOUND_S)  # asked to stop
    assert [driver.pid for _, driver in drivers(root)] == [new]
