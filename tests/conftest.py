"""Session-wide test settings: one run-environment cache, no telemetry prompts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def cache_root(tmp_path_factory) -> Path:
    """bricksmith's cache for the test session: $BRICKSMITH_TEST_ENV_CACHE (kept across
    sessions) or a folder of this session, so the iris environment is built once per session."""
    configured = os.environ.get("BRICKSMITH_TEST_ENV_CACHE")
    return Path(configured) if configured else tmp_path_factory.getbasetemp() / "cache"


def env_cache_dir(tmp_path_factory) -> Path:
    """Where the run environments are: the folder LocalBackend uses under the cache."""
    return cache_root(tmp_path_factory) / "envs"


@pytest.fixture(scope="session", autouse=True)
def _isolated_bricksmith(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("BRICKSMITH_CACHE_DIR", str(cache_root(tmp_path_factory)))
    patch.setenv("DO_NOT_TRACK", "1")
    patch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    yield
    patch.undo()
    _stop_local_clusters(tmp_path_factory.getbasetemp())


def _stop_local_clusters(folder: Path) -> None:
    """Stop the local clusters (kept 15 minutes after an apply) of the targets under
    ``folder``: a test session leaves no process behind."""
    from bricksmith.backends.local_cluster import stop_drivers

    for record in folder.glob("**/cluster/.driver-*/driver.json"):
        stop_drivers(record.parents[2])


@pytest.fixture(autouse=True)
def _no_local_cluster_left(request):
    used = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if used is not None:
        _stop_local_clusters(used)


@pytest.fixture
def emulator_options() -> dict:
    """Extra keyword arguments for the ``emulator`` fixture's Emulator (override to change)."""
    return {}


@pytest.fixture
def emulator(tmp_path, monkeypatch, emulator_options):
    """A Databricks REST API emulator serving ``tmp_path / "emulator"`` on a free loopback port,
    with a bearer token; ``.url`` and ``.token`` are what a WorkspaceClient needs. No
    DATABRICKS_* variable or ~/.databrickscfg of the machine can interfere; run environments
    are built in the session's cache."""
    from bricksmith.emulator import Emulator

    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    options = {"token": "emulator-test-token", "cluster_start_s": 0.2, **emulator_options}
    with Emulator(tmp_path / "emulator", **options) as running:
        yield running
