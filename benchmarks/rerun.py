"""Issue 19.1: a params-change re-run on the local backend against the same `kedro run`s.

One warm ``bricksmith apply`` after ``project.params.train_fraction`` changes (the whole apply:
bricksmith's start, plan, parameters file, commit, push, Git folder update and both runs, on the
local cluster kept from the apply before) against the same two runs made by hand:
``kedro run --params train_fraction=<v>,data_root=<emulated DBFS>`` in the workspace's Git
folder, with the run environment's ``kedro``. With ``-p 1`` the two runs go one after the other
(and the two ``kedro run`` too), with ``-p 2`` at once (and the two ``kedro run`` at once).
Best of ``repeats`` each; the spec's value goes back and forth between 0.7 and 0.8 so every
apply has a change to make. Run ``python -m benchmarks.rerun`` for the figures alone.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.common import REPO, bricksmith, bricksmith_env, run

VALUES = ("0.7", "0.8")
TARGET = 1.2  # the bound on apply ÷ kedro run


def _set_fraction(spec: Path, value: str) -> None:
    lines = spec.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip().startswith("train_fraction:"):
            lines[i] = f"    train_fraction: {value}\n"
            break
    spec.write_text("".join(lines))


def _kedro_runs(kedro: Path, repo: Path, data_root: Path, baseline: str, parallel: bool,
                env: dict[str, str]) -> float:
    """Wall seconds of the two runs the spec makes (baseline with the project's value,
    split-70 with 0.7), as ``kedro run --params``."""
    commands = [[str(kedro), "run", "--params", f"train_fraction={v},data_root={data_root}"]
                for v in (baseline, "0.7")]
    started = time.perf_counter()
    if parallel:
        processes = [subprocess.Popen(c, cwd=repo, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for c in commands]
        codes = [p.wait() for p in processes]
    else:
        codes = [subprocess.run(c, cwd=repo, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, check=False).returncode
                 for c in commands]
    seconds = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(f"kedro run failed in {repo}: {codes}")
    return seconds


def rerun_ratios(work: Path, cache: Path, repeats: int = 3) -> dict:
    """``{"p1": {...}, "p2": {...}}``: per parallelism, the best apply and kedro seconds,
    their ratio, and whether it meets the issue's 1.2× bound."""
    folder = work / "rerun"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    spec = folder / "iris.yaml"
    spec.write_text((REPO / "specs/iris.yaml").read_text())
    env = bricksmith_env(cache)
    run(bricksmith("apply", str(spec)), cwd=folder, env=env)  # cold: scaffold, env, cluster
    repo = next((folder / ".bricksmith/local/Workspace/Repos").glob("*/iris-databricks"))
    data_root = folder / ".bricksmith/local/dbfs/FileStore/iris-databricks/data"
    kedro = next((cache / "bricksmith/envs").glob("*/bin/kedro"))
    results: dict = {}
    turn = 0
    for label, jobs in (("p1", "1"), ("p2", "2")):
        applies, direct = [], []
        for _ in range(repeats):
            value = VALUES[turn % 2]
            turn += 1
            _set_fraction(spec, value)
            seconds, _ = run(bricksmith("apply", str(spec), "-p", jobs), cwd=folder, env=env)
            applies.append(seconds)
            direct.append(_kedro_runs(kedro, repo, data_root, value, jobs != "1", env))
        best_apply, best_kedro = min(applies), min(direct)
        ratio = best_apply / best_kedro
        results[label] = {"apply_s": best_apply, "kedro_s": best_kedro, "ratio": ratio,
                          "meets_target": ratio <= TARGET, "apply_runs_s": applies,
                          "kedro_runs_s": direct}
        print(f"  re-run {label}: apply {best_apply:.2f} s, kedro run {best_kedro:.2f} s, "
              f"{ratio:.2f}×")
    run(bricksmith("destroy", str(spec), "--yes"), cwd=folder, env=env)  # stops the cluster
    return results


def rerun_report(rerun: dict) -> list[str]:
    """The README/results.md lines of :func:`rerun_ratios`' figures."""
    lines = ["**Params-change re-run, local backend** (issue 19; the whole `apply` against the "
             "same two `kedro run --params`, wall seconds, best of 3)", "",
             "| runs | bricksmith apply | kedro run ×2 | ratio (target ≤ 1.2×) |",
             "|---|---:|---:|---:|"]
    for label, shown in (("p1", "one after the other (`-p 1`)"), ("p2", "in parallel (`-p 2`)")):
        row = rerun.get(label)
        if row:
            lines.append(f"| {shown} | {row['apply_s']:.2f} | {row['kedro_s']:.2f} | "
                         f"{row['ratio']:.2f}× {'✓' if row['meets_target'] else '✗'} |")
    return [*lines, ""]


if __name__ == "__main__":
    import json

    cache = Path("/tmp/bench-cache")
    figures = rerun_ratios(Path("/tmp/bench-work"), cache)
    print(json.dumps(figures, indent=2))
    print("\n".join(rerun_report(figures)))
