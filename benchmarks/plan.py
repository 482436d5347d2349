"""Plan cost against DAG size: ``bricksmith plan`` on specs of N steps. From scratch (no
state): the first time a spec is seen (validated-spec cache and plan memos off), in full
(memos off: the spec validated, every step built), and again (the plan memo replayed). As a
no-op after an apply of the same spec: in full, the first plan after the apply (in full; it
writes the memo), and later plans (the memo replayed: its probes checked), with and without
``--no-refresh``. Each a fresh process, interpreter start included."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks import workloads
from benchmarks.common import bricksmith, bricksmith_env, median_of, peak_rss_mb, run


def plan_cost(work: Path, cache: Path, sizes: list[int], log=print) -> tuple[list[dict], dict]:
    """(rows {tool, n, seconds}, extras {apply seconds per n, peak plan memory})."""
    project = workloads.kedro_project(cache)
    env = bricksmith_env(cache)
    full_env = {**env, "BRICKSMITH_PLAN_MEMO": "0"}
    cold_env = {**full_env, "BRICKSMITH_SPEC_CACHE": "0"}
    rows, extras = [], {"apply_s": {}, "peak_mb": {}}
    for n in sizes:
        folder = work / f"plan-{n}"
        shutil.rmtree(folder, ignore_errors=True)  # no state, no remote: from scratch
        spec = str(workloads.workflow_spec(folder, n, project))
        plan = bricksmith("plan", spec)
        first = median_of(plan, cwd=folder, env=cold_env)
        scratch = median_of(plan, cwd=folder, env=full_env)  # the spec remembered
        run(plan, cwd=folder, env=env)  # the plan remembered
        again = median_of(plan, cwd=folder, env=env)
        extras["peak_mb"][n] = {
            "from scratch": peak_rss_mb(plan, cwd=folder, env=full_env),
        }
        applied, _ = run(bricksmith("apply", spec), cwd=folder, env=env)
        full = median_of(plan, cwd=folder, env=full_env)
        extras["peak_mb"][n]["no-op, full"] = peak_rss_mb(plan, cwd=folder, env=full_env)
        detailed = bricksmith("plan", spec, "--detailed-exitcode")
        writes_memo, check = run(detailed, cwd=folder, env=env)
        if check.returncode != 0:
            raise RuntimeError(f"the plan after applying {n} steps is not empty:\n{check.stdout}")
        noop = median_of(plan, cwd=folder, env=env)
        stored = median_of(bricksmith("plan", spec, "--no-refresh"), cwd=folder, env=env)
        extras["peak_mb"][n]["no-op"] = peak_rss_mb(plan, cwd=folder, env=env)
        extras["apply_s"][n] = applied
        log(f"  plan {n:>6} steps: first {first:.2f}s, in full {scratch:.2f}s, again "
            f"{again:.2f}s, no-op in full "
            f"{full:.2f}s, first after apply {writes_memo:.2f}s, no-op {noop:.2f}s,"
            f" --no-refresh {stored:.2f}s (apply {applied:.1f}s)")
        rows += [
            {"tool": "bricksmith plan (from scratch, new spec)", "n": n, "seconds": first},
            {"tool": "bricksmith plan (from scratch, in full)", "n": n, "seconds": scratch},
            {"tool": "bricksmith plan (from scratch)", "n": n, "seconds": again},
            {"tool": "bricksmith plan (no-op, in full)", "n": n, "seconds": full},
            {"tool": "bricksmith plan (no-op, first after apply)", "n": n,
             "seconds": writes_memo},
            {"tool": "bricksmith plan (no-op after apply)", "n": n, "seconds": noop},
            {"tool": "bricksmith plan --no-refresh (no-op)", "n": n, "seconds": stored},
        ]
    return rows, extras
