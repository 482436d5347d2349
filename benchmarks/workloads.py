"""The inputs the benchmarks measure: workflow specs of N steps, equivalent DVC and Snakemake
DAGs of N stages, and a data tree of many files.

A bricksmith spec of N steps is the seed workflow (7 fixed steps, one run) with N - 7 data
sets, each a folder of one small file inside an adopted Kedro project: cheap enough to apply
at 10,000 steps, so a no-op plan has a real 10,000-row state to compare against.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

FIXED_STEPS = 7  # scaffold, params, commit, push, repo, notebook.deploy, run.baseline


def kedro_project(cache: Path) -> Path:
    """A Kedro project made once from the built-in starter (copied into each workload)."""
    project = cache / "iris-databricks"
    if not (project / "pyproject.toml").is_file():
        from bricksmith.starters import builtin_starter_path, create_project

        shutil.rmtree(project, ignore_errors=True)
        create_project(builtin_starter_path("databricks-iris"), project,
                       project_name="iris-databricks", log_path=cache / "kedro-new.log")
    return project


def workflow_spec(folder: Path, steps: int, project: Path) -> Path:
    """``folder/workflow.yaml``: a spec of exactly ``steps`` steps (>= 8)."""
    datasets = steps - FIXED_STEPS
    if datasets < 1:
        raise ValueError(f"a workload needs at least {FIXED_STEPS + 1} steps")
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / "iris-databricks"
    if not dest.exists():
        shutil.copytree(project, dest)
    lines = [
        "version: 1",
        "name: iris-databricks",
        "project:",
        "  starter: databricks-iris",
        "  path: iris-databricks",
        "  params: {train_fraction: 0.8}",
        "repo: {remote: iris-databricks.git, branch: main}",
        "target: local",
        "targets:",
        "  local: {backend: local, root: .bricksmith/local}",
        "data:",
        "  - {source: data, target: 'dbfs:/FileStore/iris-databricks/data'}",
    ]
    bench = dest / "data" / "bench"
    for i in range(1, datasets):
        part = bench / f"{i:05d}"
        part.mkdir(parents=True, exist_ok=True)
        (part / "part.csv").write_text(f"id,value\n{i},{i * 7 % 13}\n")
        lines.append(f"  - {{source: data/bench/{i:05d}, "
                     f"target: 'dbfs:/FileStore/bench/{i:05d}'}}")
    lines += ["runs:", "  - name: baseline", ""]
    spec = folder / "workflow.yaml"
    spec.write_text("\n".join(lines))
    return spec


def binary_tree(stages: int) -> list[tuple[int, int | None]]:
    """(stage, parent) for stages 1..N: stage i depends on stage i // 2 (the root on none)."""
    return [(i, i // 2 or None) for i in range(1, stages + 1)]


def dvc_project(folder: Path, stages: int, dvc: Path) -> Path:
    """A git + DVC repository whose dvc.yaml has ``stages`` stages in a binary tree."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["stages:"]
    for i, parent in binary_tree(stages):
        deps = f"[out/{parent}.txt]" if parent else "[seed.txt]"
        lines += [
            f"  s{i}:",
            f"    cmd: echo {i} > out/{i}.txt",
            f"    deps: {deps}",
            f"    outs: [out/{i}.txt]",
        ]
    (folder / "dvc.yaml").write_text("\n".join(lines) + "\n")
    (folder / "seed.txt").write_text("seed\n")
    (folder / "out").mkdir(exist_ok=True)
    if not (folder / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
        subprocess.run([str(dvc), "init", "-q"], cwd=folder, check=True)
        subprocess.run([str(dvc), "config", "core.analytics", "false"], cwd=folder, check=True)
    return folder


def snakefile(folder: Path, stages: int) -> Path:
    """A Snakefile of ``stages`` rules in a binary tree (a final rule asks for every output)."""
    folder.mkdir(parents=True, exist_ok=True)
    rules = ["rule all:", "    input: " + ", ".join(
        f'"out/{i}.txt"' for i, _ in binary_tree(stages)), ""]
    for i, parent in binary_tree(stages):
        source = f'"out/{parent}.txt"' if parent else '"seed.txt"'
        rules += [f"rule s{i}:", f"    input: {source}", f'    output: "out/{i}.txt"',
                  f'    shell: "echo {i} > {{output}}"', ""]
    (folder / "Snakefile").write_text("\n".join(rules))
    (folder / "seed.txt").write_text("seed\n")
    return folder / "Snakefile"


def data_tree(folder: Path, files: int = 10_000, total_bytes: int = 200 * 1024 * 1024,
              per_folder: int = 100, seed: int = 7) -> Path:
    """``files`` files of random bytes totalling ``total_bytes``, ``per_folder`` per folder."""
    marker = folder / f".complete-{files}-{total_bytes}"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(seed)
    size = total_bytes // files
    for i in range(files):
        part = folder / f"part-{i // per_folder:03d}"
        part.mkdir(parents=True, exist_ok=True)
        (part / f"{i:05d}.bin").write_bytes(rng.randbytes(size))
    marker.touch()
    return folder


def python() -> str:
    return os.environ.get("BRICKSMITH_BENCH_PYTHON", sys.executable)
