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


LOCAL_TARGET = """target: local
targets:
  local:
    backend: local
    root: .bricksmith/local
"""


def emulator_reruns(work: Path, cache: Path) -> dict:
    """Issue 19: what a re-run installs on Databricks compute, measured on the emulator (a
    `databricks` target on an all-purpose cluster): the seed's first apply, then two
    params-change re-runs (the runs in parallel, then ``-p 1``). Per apply: wall seconds, job
    runs, library installs (cluster libraries installed for its runs plus the notebooks' own
    ``%pip`` installs) and Python restarts, from the emulator's per-run records. Target for a
    re-run: 0 installs, 0 restarts."""
    from bricksmith.emulator import DEFAULT_CLUSTER_ID, Emulator

    folder = work / "e2e-emulator"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    token = "benchmark-token"
    with Emulator(folder / "emulator", token=token, cluster_start_s=0.2,
                  cache_dir=cache / "bricksmith/envs") as emulator:
        spec = folder / "iris.yaml"
        spec.write_text((REPO / "specs/iris.yaml").read_text().replace(LOCAL_TARGET, f"""\
target: emulated
targets:
  emulated:
    backend: databricks
    host: {emulator.url}
    cluster_id: {DEFAULT_CLUSTER_ID}
    root: .bricksmith/emulated
"""))
        env = {k: v for k, v in bricksmith_env(cache).items() if not k.startswith("DATABRICKS_")}
        env.update(DATABRICKS_TOKEN=token, DATABRICKS_CONFIG_FILE=str(folder / "none"))
        applies = []
        for label, change, extra in (
                ("first apply", None, ()),
                ("re-run after train_fraction 0.8 -> 0.7", ("0.8", "0.7"), ()),
                ("re-run after 0.7 -> 0.8, -p 1", ("0.7", "0.8"), ("-p", "1"))):
            if change:
                spec.write_text(spec.read_text().replace(f"train_fraction: {change[0]}\n",
                                                         f"train_fraction: {change[1]}\n", 1))
            seen = len(emulator.library_counts()["runs"])
            seconds, _ = run(bricksmith("apply", str(spec), *extra), cwd=folder, env=env)
            runs = emulator.library_counts()["runs"][seen:]
            applies.append({
                "label": label, "seconds": round(seconds, 2), "runs": len(runs),
                "installs": sum(r["library_installs"] + r["notebook_installs"] for r in runs),
                "restarts": sum(r["restarts"] for r in runs),
            })
        counts = emulator.library_counts()
    reruns = applies[1:]
    return {"applies": applies, "cluster_installs": counts["cluster_installs"],
            "installs_per_rerun": max(a["installs"] for a in reruns),
            "restarts_per_rerun": max(a["restarts"] for a in reruns)}


def emulator_reruns_report(d: dict) -> list[str]:
    """The README/results.md lines of :func:`emulator_reruns`."""
    lines = ["**Re-runs on Databricks compute** (specs/iris.yaml on the emulator, an all-purpose "
             "cluster): installs and Python restarts per apply (target for a re-run: 0 and 0)",
             "", "| apply | seconds | job runs | installs | restarts |",
             "|---|---:|---:|---:|---:|"]
    for a in d["applies"]:
        lines.append(f"| {a['label']} | {a['seconds']:.2f} | {a['runs']} | {a['installs']} | "
                     f"{a['restarts']} |")
    return [*lines, ""]


if __name__ == "__main__":
    import json

    cache = Path("/tmp/bench-cache")
    print(json.dumps(end_to_end(Path("/tmp/bench-work"), cache), indent=2))
