"""End to end on the seed workflow (specs/iris.yaml, local backend):

- the run environment built alone (uv, an empty environment cache);
- a cold apply broken down by step (environment already built);
- a warm re-run after ``project.params.train_fraction`` 0.8 -> 0.7 (commit, push, repo update
  and both runs again; the two runs in parallel), and the change back with ``-p 1`` (the runs
  one after the other), against running the same project directly: ``kedro run --params``
  once per run, one after the other, in the same run environment on the same data.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks import workloads
from benchmarks.common import REPO, bricksmith, bricksmith_env, run

_DONE = re.compile(r"✓ (\S+) done in ([\d.]+)s")


def environment_build(cache: Path) -> float:
    from bricksmith.backends.runtime_env import ensure_environment

    requirements = workloads.kedro_project(cache) / "requirements.txt"
    with tempfile.TemporaryDirectory(dir=cache) as empty:
        started = time.perf_counter()
        ensure_environment(requirements, Path(empty))
        return time.perf_counter() - started


def end_to_end(work: Path, cache: Path) -> dict:
    folder = work / "e2e"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    spec = folder / "iris.yaml"
    spec.write_text((REPO / "specs/iris.yaml").read_text())
    env = bricksmith_env(cache)
    result = {"env_build_s": environment_build(cache)}
    run(bricksmith("apply", str(spec)), cwd=folder, env=env)  # the environment, cached
    shutil.rmtree(folder / "iris-databricks")
    shutil.rmtree(folder / "iris-databricks.git")
    shutil.rmtree(folder / ".bricksmith")

    cold, done = run(bricksmith("apply", str(spec)), cwd=folder, env=env)
    result["cold_apply_s"] = cold
    result["cold_steps_s"] = {step: float(s) for step, s in _DONE.findall(done.stdout)}

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    warm, done = run(bricksmith("apply", str(spec)), cwd=folder, env=env)
    result["warm_apply_s"] = warm
    result["warm_steps_s"] = {step: float(s) for step, s in _DONE.findall(done.stdout)}
    # the same change back, one step at a time: the runs one after the other, as by hand
    spec.write_text(spec.read_text().replace("train_fraction: 0.7\n", "train_fraction: 0.8\n", 1))
    result["warm_apply_serial_s"], _ = run(bricksmith("apply", str(spec), "-p", "1"),
                                           cwd=folder, env=env)

    repo = next((folder / ".bricksmith/local/Workspace/Repos").glob("*/iris-databricks"))
    data_root = folder / ".bricksmith/local/dbfs/FileStore/iris-databricks/data"
    kedro = next((cache / "bricksmith/envs").glob("*/bin/kedro"))
    direct = 0.0
    for params in ("train_fraction=0.7", "train_fraction=0.7"):  # baseline, split-70
        seconds, _ = run([str(kedro), "run", "--params", f"{params},data_root={data_root}"],
                         cwd=repo, env=env)
        direct += seconds
    result["direct_kedro_s"] = direct
    result["overhead"] = warm / direct - 1
    result["overhead_serial"] = result["warm_apply_serial_s"] / direct - 1
    return result


if __name__ == "__main__":
    import json

    cache = Path("/tmp/bench-cache")
    print(json.dumps(end_to_end(Path("/tmp/bench-work"), cache), indent=2))
