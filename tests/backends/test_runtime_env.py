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
    assert again.key == iris_env.key == requirements_key(requirements)
    root = iris_env.python.parent.parent
    assert root.name == iris_env.key[:16]
    marker = json.loads((root / runtime_env.MARKER).read_text())
    assert marker["key"] == iris_env.key


def _key_of(folder, text):
    file = folder / "requirements.txt"
    file.write_text(text)
    return requirements_key(file)


def test_key_depends_on_the_requirements_bytes(tmp_path):
    assert _key_of(tmp_path, "pandas\n") != _key_of(tmp_path, "pandas>=2\n")
    assert _key_of(tmp_path, "pandas\n") == _key_of(tmp_path, "pandas\n")


def test_key_covers_included_files_recursively(tmp_path):
    """Case requirements-include-stale-env: a dependency added to a file included with -r
    (or a constraints file, or a file that one includes) is a new environment."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "requirements.txt").write_text("kedro~=1.7\n-c ../constraints.txt\n")
    (tmp_path / "constraints.txt").write_text("pandas<3\n")
    top = "-r src/requirements.txt\n"
    first = _key_of(tmp_path, top)
    (tmp_path / "src" / "requirements.txt").write_text(
        "kedro~=1.7\n-c ../constraints.txt\ntabulate\n"
    )
    second = _key_of(tmp_path, top)
    assert second != first
    (tmp_path / "constraints.txt").write_text("pandas<2.3\n")
    assert _key_of(tmp_path, top) != second


def test_projects_sharing_a_top_level_line_do_not_share_an_environment(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, extra in ((one, "pandas"), (two, "polars")):
        (folder / "src").mkdir(parents=True)
        (folder / "src" / "requirements.txt").write_text(extra + "\n")
    assert _key_of(one, "-r src/requirements.txt\n") != _key_of(two, "-r src/requirements.txt\n")


def test_closure_spellings_missing_files_and_local_packages(tmp_path):
    from bricksmith.backends.requirements_closure import MISSING, requirements_closure

    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / "b.txt").write_text("-r requirements.txt  # a loop is followed once\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "pyproject.toml").write_text("[project]\nname='pkg'\n")
    (tmp_path / "requirements.txt").write_text(
        "-ra.txt\n--requirement=b.txt\n--constraint gone.txt\n-e ./pkg\n"
        "pandas \\\n  >=2  # continued\n"
    )
    names = {name: data for name, data in requirements_closure(tmp_path / "requirements.txt")}
    assert set(names) == {"requirements.txt", "a.txt", "b.txt", "gone.txt", "pkg/pyproject.toml"}
    assert names["gone.txt"] == MISSING
    before = requirements_key(tmp_path / "requirements.txt")
    (tmp_path / "gone.txt").write_text("pandas<3\n")  # creating a named file is a change
    assert requirements_key(tmp_path / "requirements.txt") != before


def test_spark_found_in_an_included_file(tmp_path):
    from bricksmith.backends.requirements_closure import closure_text

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "requirements.txt").write_text("kedro-datasets[spark-sparkdataset]\n")
    (tmp_path / "requirements.txt").write_text("-r src/requirements.txt\n")
    assert "pyspark" in runtime_env.runtime_libraries(closure_text(tmp_path / "requirements.txt"))


def test_kernel_computes_the_same_key(tmp_path):
    spec = importlib.util.spec_from_file_location("notebook_kernel_for_test", KERNEL)
    kernel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernel)
    (tmp_path / "more.txt").write_text("pandas\n")
    for text in ("", "kedro~=1.7.0\n-r more.txt\n"):
        file = tmp_path / "requirements.txt"
        file.write_text(text)
        assert kernel.requirements_key(str(file)) == requirements_key(file)


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


@pytest.mark.parametrize(
    ("requirements", "added"),
    [
        ("kedro~=1.7\nkedro-datasets[pandas-csvdataset]>=8.0\n", []),
        (
            "kedro-datasets[spark-sparkdataset, pandas-parquetdataset]>=8.0\n",
            ["pyspark", "hdfs", "s3fs"],
        ),
        ("kedro_datasets[spark.SparkDataset]>=1.0  # Kedro's older extras\n",
         ["pyspark", "hdfs", "s3fs"]),
        ("Kedro-Datasets [spark]\n", ["pyspark", "hdfs", "s3fs"]),
        ("pyspark==3.5.1\n", ["pyspark"]),  # pinned by the project: its pin wins in the resolve
        ("# pyspark is commented out\n-r other.txt\nsparkly\n", []),
        ("kedro-datasets\n", []),
    ],
)
def test_runtime_libraries_for_spark_projects(requirements, added):
    assert runtime_env.runtime_libraries(requirements) == added


def test_has_package(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "pyspark").mkdir(parents=True)
    python = tmp_path / "bin" / "python"
    assert not runtime_env.has_package(python, "pyspark")
    (site / "pyspark" / "__init__.py").write_text("")
    assert runtime_env.has_package(python, "pyspark")
    assert not runtime_env.has_package(python, "pandas")


def test_the_iris_environment_has_no_spark(iris_env):
    assert not runtime_env.has_package(iris_env.python, "pyspark")
    marker = json.loads((iris_env.python.parent.parent / runtime_env.MARKER).read_text())
    assert marker["runtime_libraries"] == []


def test_uv_installs_from_its_cache_first(tmp_path, tmp_path_factory):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# only IPython ({tmp_path.name})\n")
    log = tmp_path / "build.log"
    env = ensure_environment(requirements, env_cache_dir(tmp_path_factory), log_path=log)
    commands = [line for line in log.read_text().splitlines() if line.startswith("$ ")]
    assert " pip install " in commands[1] and commands[1].endswith(" --offline")
    if len(commands) > 2:  # not all in uv's cache: the same install, from the index
        assert commands[2] == commands[1].removesuffix(" --offline")
    assert run_python(env.python, "import IPython").returncode == 0


def test_a_build_leaves_nothing_in_tmpdir_and_removes_killed_builds(
    tmp_path, tmp_path_factory, monkeypatch
):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# only IPython ({tmp_path.name}, tmpdir)\n")
    cache = env_cache_dir(tmp_path_factory)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    import shutil

    first = ensure_environment(requirements, cache)
    assert list(system_tmp.iterdir()) == []
    key = first.key[:16]
    shutil.rmtree(cache / key)  # built again below
    killed = cache / f".build-{key}-deadbeef"  # a build killed halfway, and its scratch
    (killed / "lib").mkdir(parents=True)
    (cache / f".build-{key}-deadbeef.tmp" / "pip-x").mkdir(parents=True)
    env = ensure_environment(requirements, cache)
    assert env.built
    assert not list(cache.glob(f".build-{key}-*"))
    assert list(system_tmp.iterdir()) == []
