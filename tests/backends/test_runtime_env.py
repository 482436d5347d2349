"""Isolated run environments built from a project's requirements.txt (real builds with uv)."""

import importlib.util
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from bricksmith.backends import runtime_env
from bricksmith.backends.runtime_env import ensure_environment, requirements_key
from bricksmith.errors import EnvironmentBuildError
from bricksmith.starters import builtin_starter_path, create_project
from tests.conftest import env_cache_dir

KERNEL = Path(runtime_env.__file__).with_name("notebook_kernel.py")




@pytest.fixture(scope="module")
def requirements(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("env-project")
    create_project(
        builtin_starter_path("databricks-iris"),
        root / "iris-databricks",
        project_name="Iris Databricks",
        log_path=root / "scaffold.log",
    )
    return root / "iris-databricks" / "requirements.txt"


@pytest.fixture(scope="module")
def iris_env(requirements, tmp_path_factory):
    log = tmp_path_factory.getbasetemp() / "env-build.log"
    return ensure_environment(requirements, env_cache_dir(tmp_path_factory), log_path=log)


def run_python(python: Path, code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, check=False
    )


def test_environment_has_the_requirements_and_nothing_of_bricksmith(iris_env):
    assert iris_env.python.is_file()
    done = run_python(
        iris_env.python,
        "import IPython, kedro, kedro_datasets, numpy, pandas; print(kedro.__version__)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("1.")
    isolated = run_python(iris_env.python, "import bricksmith")
    assert isolated.returncode != 0
    assert "No module named 'bricksmith'" in isolated.stderr


def test_second_call_reuses_the_environment(requirements, iris_env, tmp_path_factory):
    again = ensure_environment(requirements, env_cache_dir(tmp_path_factory))
    assert again.built is False
    assert again.python == iris_env.python
    assert again.key == iris_env.key == requirements_key(requirements.read_bytes())
    root = iris_env.python.parent.parent
    assert root.name == iris_env.key[:16]
    marker = json.loads((root / runtime_env.MARKER).read_text())
    assert marker["key"] == iris_env.key


def test_key_depends_on_the_requirements_bytes():
    assert requirements_key(b"pandas\n") != requirements_key(b"pandas>=2\n")
    assert requirements_key(b"pandas\n") == requirements_key(b"pandas\n")


def test_kernel_computes_the_same_key():
    spec = importlib.util.spec_from_file_location("notebook_kernel_for_test", KERNEL)
    kernel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernel)
    for data in (b"", b"kedro~=1.7.0\npandas\n"):
        assert kernel.requirements_key(data) == requirements_key(data)


def test_concurrent_requests_build_once(tmp_path, tmp_path_factory):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# only IPython ({tmp_path.name})\n")  # unique key for this test
    cache = env_cache_dir(tmp_path_factory)
    results, errors = [], []

    def build():
        try:
            results.append(ensure_environment(requirements, cache))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.built for r in results) == [False, True]
    assert len({r.python for r in results}) == 1
    assert run_python(results[0].python, "import IPython").returncode == 0
    assert not list(cache.glob(".build-*"))  # no staging folder left behind


def test_a_failing_build_raises_with_the_log_tail(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("this is not a requirement !!!\n")
    cache = tmp_path / "cache"
    log = tmp_path / "build.log"
    with pytest.raises(EnvironmentBuildError) as caught:
        ensure_environment(requirements, cache, log_path=log)
    assert caught.value.log_tail
    assert caught.value.log_tail in log.read_text()
    assert caught.value.hint
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_missing_requirements_file_is_an_environment_error(tmp_path):
    with pytest.raises(EnvironmentBuildError, match="Cannot read the requirements file"):
        ensure_environment(tmp_path / "requirements.txt", tmp_path / "cache")
