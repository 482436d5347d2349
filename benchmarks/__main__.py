"""Run every benchmark and write benchmarks/results/{results.json,results.md,chart.png}:

    python -m benchmarks            # everything (about 15-25 minutes on 2 cores)
    python -m benchmarks --quick    # small sizes, to try the harness (a few minutes)
    python -m benchmarks --only plan    # measure one section again, keep the others

Competing tools (dvc, snakemake) and matplotlib are installed into the benchmark's own
virtualenv under the cache folder, never into bricksmith's environment.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

from benchmarks import competitors, e2e, engine, plan, rerun, sync, toolenv, workloads
from benchmarks.common import REPO, compile_bytecode

OUT = REPO / "benchmarks/results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--cache", default="/tmp/bricksmith-bench", help="work and cache folder")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite results.md and chart.png from results.json")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="measure only this section (repeatable); the others are kept "
                        "from results.json")
    args = parser.parse_args(argv)
    cache, out = Path(args.cache), Path(args.out)
    if args.report_only:
        results = json.loads((out / "results.json").read_text())
        return _write(results, out, toolenv.tools_env(cache))
    work = cache / "work"
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [10, 100, 1000] if args.quick else [10, 100, 1000, 10_000]
    files, megabytes = (1000, 20) if args.quick else (10_000, 200)
    started = time.time()

    compile_bytecode()
    tools = toolenv.tools_env(cache)
    only = set(args.only or SECTIONS)
    results: dict = json.loads((out / "results.json").read_text()) if args.only else {}
    results.update({"machine": _machine(), "tools": tools.versions, "quick": args.quick})
    if args.only:
        results["partial"] = f"measured again on {results['machine']['date']}: " + ", ".join(
            sorted(only))

    if "plan" in only:
        results["plan"], results["plan_extras"] = _plan_section(work, cache, sizes, tools)
    if "sync" in only:
        print(f"data sync: {files} files, {megabytes} MB")
        tree = workloads.data_tree(cache / f"tree-{files}", files, megabytes * 1024 * 1024)
        for name in ("sync-local", "sync-emulator"):
            (work / name).mkdir(parents=True, exist_ok=True)
        results["sync"] = sync.local_sync(tree, work / "sync-local")
        results["emulator_sync"] = sync.emulator_sync(tree, work / "sync-emulator",
                                                      latency_ms=20)
    if "engine" in only:
        print("engine overhead")
        results["engine"] = engine.engine_overhead(max(sizes))
    if "e2e" in only:
        print("end to end")
        results["e2e_detail"] = detail = e2e.end_to_end(work, cache)
        results["e2e"] = [
            {"label": "bricksmith apply (warm re-run)", "seconds": detail["warm_apply_s"]},
            {"label": "bricksmith apply -p 1 (warm re-run)",
             "seconds": detail["warm_apply_serial_s"]},
            {"label": "kedro run, once per run", "seconds": detail["direct_kedro_s"]},
            {"label": "bricksmith apply (cold)", "seconds": detail["cold_apply_s"]},
            {"label": "environment build (uv)", "seconds": detail["env_build_s"]},
        ]
        print("params-change re-run against kedro run")
        results["rerun"] = rerun.rerun_ratios(work, cache)
    if "reruns-emulator" in only:  # issue 19: what a re-run installs on Databricks compute
        print("re-runs on the emulator")
        results["emulator_reruns"] = e2e.emulator_reruns(work, cache)
    results["total_s"] = time.time() - started

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return _write(results, out, tools)


SECTIONS = ("plan", "sync", "engine", "e2e", "reruns-emulator")


def _plan_section(work: Path, cache: Path, sizes: list[int], tools) -> tuple[list, dict]:
    print("plan cost against DAG size")
    rows, extras = plan.plan_cost(work, cache, sizes)
    for n in sizes:
        repeats = 3
        for name, timer in (("dvc status", competitors.time_dvc_status),
                            ("snakemake -n", competitors.time_snakemake_dry_run)):
            tool = name.split()[0]
            for after in (False, True):
                timing = timer(work / f"{tool}-{n}", n, tools, repeats=repeats, timeout=900,
                               after_run=after)
                label = name + (" (after run)" if after else "")
                print(f"  {label} at {n}: {timing.seconds} {timing.note}")
                rows.append({"tool": label, "n": n, "seconds": timing.seconds,
                             "note": timing.note})
    return rows, extras


def _write(results: dict, out: Path, tools) -> int:
    (out / "results.md").write_text(report(results))
    subprocess.run([str(tools.python), str(REPO / "benchmarks/chart.py"),
                    str(out / "results.json"), str(out / "chart.png")], check=True)
    print(report(results))
    print(f"written: {out}/results.md, results.json, chart.png ({results['total_s']:.0f} s)")
    return 0


def _machine() -> dict:
    import os

    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "system": f"{platform.system()} {platform.machine()}",
            "date": time.strftime("%Y-%m-%d")}


def _s(value) -> str:
    return "—" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def report(r: dict) -> str:
    m = r["machine"]
    lines = [f"Measured {m['date']} on {m['system']}, {m['cpus']} CPUs, Python {m['python']}; "
             f"tools: " + ", ".join(f"{k} {v}" for k, v in r["tools"].items()) + "."
             + (f" Sections {r['partial']}; the others are from the full run before."
                if r.get("partial") else ""), ""]

    by = {(row["tool"], row["n"]): row["seconds"] for row in r["plan"]}
    sizes = sorted({row["n"] for row in r["plan"]})
    new, scratch_full, scratch, full, first, noop, stored = (
        "bricksmith plan (from scratch, new spec)", "bricksmith plan (from scratch, in full)",
        "bricksmith plan (from scratch)", "bricksmith plan (no-op, in full)",
        "bricksmith plan (no-op, first after apply)", "bricksmith plan (no-op after apply)",
        "bricksmith plan --no-refresh (no-op)")
    lines += ["**Plan cost** (wall seconds, a fresh process each, median of 3; \"first after "
              "apply\" once). *New spec*: never seen (spec cache and plan memo off); *in "
              "full*: plan memos off; *first after apply* is in full and writes the memo; the "
              "other bricksmith columns replay the memo (its probes checked).", "",
              "| steps | new spec | from scratch, in full | from scratch | no-op, in full "
              "| no-op, first after apply | no-op | no-op, --no-refresh | dvc status "
              "| after run | snakemake -n | after run | dvc ÷ from scratch "
              "| dvc after run ÷ no-op |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        dvc, dvc_after = by.get(("dvc status", n)), by.get(("dvc status (after run)", n))
        ratio = f"{dvc / by[(scratch, n)]:.1f}×" if dvc else "—"
        after = f"{dvc_after / by[(noop, n)]:.1f}×" if dvc_after else "—"
        lines.append(f"| {n:,} | {_s(by[(new, n)])} | {_s(by.get((scratch_full, n)))} | "
                     f"{_s(by[(scratch, n)])} | "
                     f"{_s(by.get((full, n)))} | {_s(by.get((first, n)))} | "
                     f"{_s(by[(noop, n)])} | {_s(by[(stored, n)])} | {_s(dvc)} | "
                     f"{_s(dvc_after)} | {_s(by.get(('snakemake -n', n)))} | "
                     f"{_s(by.get(('snakemake -n (after run)', n)))} | {ratio} | {after} |")
    top = max(sizes)
    peak = r["plan_extras"]["peak_mb"][str(top) if str(top) in r["plan_extras"]["peak_mb"]
                                       else top]
    in_full = f", {peak['no-op, full']:.0f} MB no-op in full" if "no-op, full" in peak else ""
    lines += ["", f"Peak memory of `bricksmith plan` at {top:,} steps: "
              f"{peak['from scratch']:.0f} MB from scratch in full{in_full}, "
              f"{peak['no-op']:.0f} MB no-op replaying the memo.", ""]

    lines += ["**Data sync** (local backend; wall seconds)", "",
              "| case | bricksmith | rsync -a | cp -r | bricksmith ÷ rsync |",
              "|---|---:|---:|---:|---:|"]
    cases = list(dict.fromkeys(row["case"] for row in r["sync"]))
    sync = {(row["case"], row["tool"]): row for row in r["sync"]}
    for case in cases:
        ours = sync.get((case, "bricksmith (local)"), {})
        rsync = sync.get((case, "rsync -a"), {})
        ratio = ours.get("seconds", 0) / rsync["seconds"] if rsync.get("seconds") else None
        copied = ours.get("files_copied")
        cp = sync.get((case, "cp -r"), {}).get("seconds")
        lines.append(f"| {case} | {_s(ours.get('seconds'))}"
                     f"{f' ({copied} copied)' if copied is not None else ''} | "
                     f"{_s(rsync.get('seconds'))} | {_s(cp)} | "
                     f"{f'{ratio:.2f}×' if ratio else '—'} |")
    lines += ["", "**Against the emulator, 20 ms added to every request** (wall seconds)", "",
              "| case | tool | seconds | requests | note |", "|---|---|---:|---:|---|"]
    for row in r["emulator_sync"]:
        lines.append(f"| {row['case']} | {row['tool']} | {_s(row['seconds'])} | "
                     f"{row.get('requests') or '—'} | {row.get('note') or ''} |")

    e = r["engine"]
    lines += ["", f"**Engine overhead** at {e['steps']:,} steps, one at a time: a no-op step "
              f"(fingerprint, check, batched 'checked' write) median {e['noop_median_ms']:.3f} ms "
              f"({e['noop_total_s']:.1f} s for all); a step that runs, checkpointed durably "
              f"(SQLite WAL, synchronous=FULL: two fsync'ed commits) median "
              f"{e['run_median_ms']:.3f} ms, {e['run_median_ms_normal']:.3f} ms with "
              "synchronous=NORMAL (not durable against power loss).", ""]

    d = r["e2e_detail"]
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in d["cold_steps_s"].items())
    lines += ["**End to end** (specs/iris.yaml, local backend)", "",
              f"- environment build (uv, empty cache): {d['env_build_s']:.1f} s",
              f"- cold apply, environment built: {d['cold_apply_s']:.1f} s — {steps}",
              f"- warm re-run after train_fraction 0.8 → 0.7: {d['warm_apply_s']:.2f} s vs "
              f"`kedro run --params` once per run: {d['direct_kedro_s']:.2f} s — overhead "
              f"{d['overhead'] * 100:+.0f} % (the two runs in parallel, the default); "
              f"with `-p 1` (the runs one after the other) {d['warm_apply_serial_s']:.2f} s, "
              f"{d['overhead_serial'] * 100:+.0f} %", ""]
    if "emulator_reruns" in r:
        lines += e2e.emulator_reruns_report(r["emulator_reruns"])
    if r.get("rerun"):
        lines += rerun.rerun_report(r["rerun"])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
