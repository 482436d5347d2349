"""After a real apply on the emulator: every call the databricks backend made is a route that
databricks-sdk's generated code knows, and an independent client, the legacy
``databricks-cli`` from PyPI (its own venv), lists, uploads, downloads and reads the runs
(issue 16, item 10).

The legacy CLI drops any port from ``DATABRICKS_HOST``, so the emulator serves port 80 of a
loopback address of its own (127.0.0.2): that needs root, and the test is skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bricksmith.emulator import DEFAULT_CLUSTER_ID, Emulator
from tests import sdk_contract
from tests.reliability.harness import seed_spec

pytestmark = pytest.mark.e2e

HOST = "127.0.0.2"  # a loopback address of its own: port 80 there clashes with nothing
LEGACY_CLI = "databricks-cli==0.18.0"  # the last release of the legacy CLI


@pytest.fixture(scope="session")
def legacy_cli(tmp_path_factory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("the legacy databricks-cli needs the emulator on port 80, which needs root")
    venv = tmp_path_factory.mktemp("legacy-cli") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", LEGACY_CLI], capture_output=True, text=True
    )
    if installed.returncode != 0:
        pytest.skip(f"{LEGACY_CLI} could not be installed: {installed.stderr.strip()[-300:]}")
    return venv / "bin/databricks"


@pytest.fixture
def emulator80(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    emulator = Emulator(tmp_path / "emulator", token="emulator-test-token", cluster_start_s=0.2)
    try:
        emulator.start(HOST, 80)
    except OSError as exc:
        pytest.skip(f"cannot serve on {HOST}:80: {exc}")
    try:
        yield emulator
    finally:
        emulator.stop()


def test_an_apply_uses_only_sdk_routes_and_the_legacy_cli_reads_its_results(
    cli, seed, emulator80, legacy_cli, tmp_path, monkeypatch
):
    emulator = emulator80
    spec = seed_spec(seed.parent, f"http://{HOST}")
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    applied = cli("apply", spec)
    assert applied.code == 0, applied.err

    # every call the backend made is one the SDK knows
    made = sorted(emulator.calls)
    assert made, "the apply made no calls"
    assert [c for c in made if not sdk_contract.matching(*c.split(" ", 1))] == []

    env = {**os.environ, "HOME": str(tmp_path / "home"), "DATABRICKS_HOST": f"http://{HOST}",
           "DATABRICKS_TOKEN": emulator.token}
    (tmp_path / "home").mkdir()

    def legacy(*args: str) -> str:
        done = subprocess.run([str(legacy_cli), *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    # list and download what the apply uploaded
    raw = "dbfs:/FileStore/iris-databricks/data/01_raw"
    assert "iris.csv" in legacy("fs", "ls", raw).split()
    legacy("fs", "cp", f"{raw}/iris.csv", str(tmp_path / "iris.csv"))
    assert (tmp_path / "iris.csv").read_bytes() == \
        (emulator.root / "dbfs/FileStore/iris-databricks/data/01_raw/iris.csv").read_bytes()

    # upload: a multipart dbfs/put with the file in the form field "file"
    data = bytes(range(256)) * 1200
    (tmp_path / "up.bin").write_bytes(data)
    legacy("fs", "cp", str(tmp_path / "up.bin"), "dbfs:/FileStore/up.bin")
    assert (emulator.root / "dbfs/FileStore/up.bin").read_bytes() == data

    # the runs, on the Jobs API 2.0 (the CLI's default) and 2.1
    runs = emulator.runs
    listed = json.loads(legacy("runs", "list", "--output", "JSON"))
    assert sorted(r["run_id"] for r in listed["runs"]) == sorted(r["run_id"] for r in runs)
    for version in ("2.0", "2.1"):
        got = json.loads(legacy("runs", "get", "--run-id", str(runs[0]["run_id"]),
                                "--version", version))
        assert got["state"]["result_state"] == "SUCCESS"
    task_run = runs[0]["tasks"][0]["run_id"]
    output = json.loads(legacy("runs", "get-output", "--run-id", str(task_run)))
    assert json.loads(output["notebook_output"]["result"])  # the notebook's metrics

    clusters = json.loads(legacy("clusters", "list", "--output", "JSON"))
    assert [c["cluster_id"] for c in clusters["clusters"]] == [DEFAULT_CLUSTER_ID]

    calls = emulator.calls
    assert calls["GET /api/2.0/jobs/runs/list"] == 1 and calls["GET /api/2.1/jobs/runs/get"] == 1
    assert calls["GET /api/2.0/clusters/list"] == 1
