"""Data-folder sync: bricksmith's upload against the tools a user would otherwise reach for.

``local_sync(tree, work)``: bricksmith's LocalBackend.upload (in-process, as the engine calls it)
against ``rsync -a`` and ``cp -r``, each into its own destination under ``work``.
``emulator_sync(tree, work)``: bricksmith's DatabricksBackend.upload against a sequential copy
(one ``dbfs.put`` per file, as ``databricks fs cp -r`` does), both talking to the Databricks API
emulator started as a subprocess with injected latency.

Cases: "first upload" (empty destination), "no-op re-sync" (nothing changed) and "one file
changed" (one file rewritten with new bytes of the same size and a new mtime); the last two are
run 3 times and their median is kept. The tree is read once before measuring (the page cache
cannot be dropped without root). Run alone:

    python -m benchmarks.sync [--files N] [--mb M] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import base64
import filecmp
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.workloads import data_tree

TARGET = "dbfs:/FileStore/bench"
CASES = (("first upload", 1), ("no-op re-sync", 3), ("one file changed", 3))
SEQUENTIAL_BUDGET_S = 300  # past this a sequential copy is timed on a sample and extrapolated
SEQUENTIAL_SAMPLE = 1000


def _files(tree: Path) -> list[str]:
    """Every file under ``tree`` as a sorted relative POSIX path; reading them warms the cache."""
    files = []
    for folder, _, names in os.walk(tree):
        for name in names:
            path = Path(folder, name)
            path.read_bytes()
            files.append(path.relative_to(tree).as_posix())
    return sorted(files)


def _change_one(tree: Path, files: list[str], rep: int) -> str:
    """Rewrite one file (a different one each ``rep``) with new bytes of the same size."""
    rel = files[(rep + 1) * len(files) // 5]
    path = tree / rel
    old = path.stat()
    path.write_bytes(os.urandom(old.st_size))
    mtime = max(time.time_ns(), old.st_mtime_ns + 1_000_000_000)  # a new mtime, even in 1 s
    os.utime(path, ns=(mtime, mtime))
    return rel


def _check_copy(tree: Path, dest: Path, files: list[str], changed: list[str], what: str) -> None:
    """Raise unless ``dest`` has as many files as ``tree`` and sampled files are byte-equal."""
    there = sum(len(names) for _, _, names in os.walk(dest))
    if there != len(files):
        raise RuntimeError(f"{what}: {there} files in {dest}, {len(files)} in {tree}")
    sample = random.Random(0).sample(files, min(20, len(files))) + changed
    differ = [rel for rel in sample if not filecmp.cmp(tree / rel, dest / rel, shallow=False)]
    if differ:
        raise RuntimeError(f"{what}: {dest} differs from {tree} in {differ[:5]}")


def _measure(
    tree: Path, files: list[str], tools: dict[str, Callable[[], dict]]
) -> tuple[list[dict], list[str]]:
    """Run every tool on every case; (rows, files changed). A tool answers a dict: of its
    integer values a row keeps the median and, under ``_<key>_each``, each; of others the last."""
    rows, changed = [], []
    for case, reps in CASES:
        runs: dict[str, list[tuple[float, dict]]] = {tool: [] for tool in tools}
        for rep in range(reps):
            if case == "one file changed":
                changed.append(_change_one(tree, files, rep))
            for tool, run in tools.items():
                start = time.perf_counter()
                counts = run()
                runs[tool].append((time.perf_counter() - start, counts))
        for tool, results in runs.items():
            row = {"case": case, "tool": tool,
                   "seconds": statistics.median(s for s, _ in results)}
            for key in results[0][1]:
                values = [c[key] for _, c in results]
                if all(isinstance(v, int) for v in values):
                    row[key], row[f"_{key}_each"] = statistics.median_low(values), values
                else:
                    row[key] = values[-1]
            rows.append(row)
    return rows, changed


def _public(row: dict) -> dict:
    """``row`` without the per-repetition values ``_measure`` keeps in ``_*_each`` keys."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


# -- local ---------------------------------------------------------------------------------


def local_sync(tree: Path, work: Path) -> list[dict]:
    """bricksmith's LocalBackend.upload, ``rsync -a`` and ``cp -r`` on the same tree."""
    from bricksmith.backends.local import LocalBackend

    files = _files(tree)
    backend = LocalBackend(work / "bricksmith-root", user="bench")
    dests = {"bricksmith (local)": Path(backend.data_path(TARGET)),
             "rsync -a": work / "rsync-dest", "cp -r": work / "cp-dest"}
    for dest in [work / "bricksmith-root", *dests.values()]:
        shutil.rmtree(dest, ignore_errors=True)
    previous: dict = {}

    def bricksmith() -> dict:
        nonlocal previous
        previous = backend.upload(tree, TARGET, previous, lambda _: None)
        return {"files_copied": previous["_copied"]}

    def rsync() -> dict:
        out = subprocess.run(["rsync", "-a", "--stats", f"{tree}/", f"{dests['rsync -a']}/"],
                             check=True, capture_output=True, text=True).stdout
        found = re.search(r"Number of regular files transferred: ([\d,]+)", out)
        return {"files_copied": int(found.group(1).replace(",", "")) if found else None}

    def cp() -> dict:  # -T: copy over an existing destination, not into a subfolder of it
        subprocess.run(["cp", "-rT", str(tree), str(dests["cp -r"])], check=True)
        return {"files_copied": len(files)}

    tools = {"bricksmith (local)": bricksmith, "rsync -a": rsync, "cp -r": cp}
    if not shutil.which("rsync"):
        del tools["rsync -a"]
    rows, changed = _measure(tree, files, tools)
    each = next(row["_files_copied_each"] for row in rows
                if row["tool"] == "bricksmith (local)" and row["case"] == "one file changed")
    if each != [1] * len(each):
        raise RuntimeError(f"bricksmith copied {each} files, not 1 each time, after one changed")
    for tool in tools:
        _check_copy(tree, dests[tool], files, changed, tool)
    notes = {"bricksmith (local)": "in-process; previous = the last upload's outputs",
             "rsync -a": "with --stats to count the files transferred",
             "cp -r": "cp -rT tree dest: every file copied again, over the destination"}
    rows = [_public({**row, "note": notes[row["tool"]]}) for row in rows]
    if "rsync -a" not in tools:
        rows.append({"case": "(all)", "tool": "rsync -a", "seconds": None, "files_copied": None,
                     "note": "rsync is not installed"})
    return rows


# -- the emulator ----------------------------------------------------------------------------


@contextmanager
def _emulator(root: Path, latency_ms: float, log: Path) -> Iterator[tuple[str, str]]:
    """Serve the Databricks API emulator in a subprocess; yields (url, token)."""
    token = secrets.token_hex(16)
    command = [sys.executable, "-m", "bricksmith.cli", "emulator", "serve", "--host",
               "127.0.0.1", "--port", "0", "--latency-ms", f"{latency_ms:g}", "--root",
               str(root), "--token-env", "BENCH_EMULATOR_TOKEN"]
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env={**os.environ, "BENCH_EMULATOR_TOKEN": token})
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r" at (https?://\S+)", line)
            if found:
                url = found.group(1)
                break
        if url is None:
            raise RuntimeError(f"the emulator exited before serving; see {log}")
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _databricks_env(url: str, token: str, work: Path) -> Iterator[None]:
    """DATABRICKS_HOST/TOKEN for the emulator, and nothing of this machine's config."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DATABRICKS_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(DATABRICKS_HOST=url, DATABRICKS_TOKEN=token,
                      DATABRICKS_CONFIG_FILE=str(work / "no-databrickscfg"))
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("DATABRICKS_")]:
            del os.environ[key]
        os.environ.update(saved)


def _answers(client) -> list[tuple[str, int]] | None:
    """("METHOD /path", status) of every HTTP answer ``client`` gets from now on, retries
    included (a hook on the SDK's private requests session; None if the SDK moved it)."""
    answers: list[tuple[str, int]] = []
    try:
        session = client.api_client._api_client._session
    except AttributeError:
        return None

    def seen(answer, *_, **__) -> None:
        call = f"{answer.request.method} {urlsplit(answer.request.url).path}"
        answers.append((call.replace("/api/2.0/", ""), answer.status_code))

    session.hooks["response"].append(seen)
    return answers


def _counter(answers: list | None, run: Callable[[], dict]) -> Callable[[], dict]:
    """``run``, also answering its number of requests, of non-2xx answers, and the calls."""
    def counted() -> dict:
        before = len(answers) if answers is not None else 0
        counts = run()
        if answers is None:
            return {**counts, "requests": None, "non_2xx": None, "calls": None}
        mine = answers[before:]
        calls = Counter(f"{call} {status}" for call, status in mine)
        return {**counts, "requests": len(mine), "non_2xx": sum(s >= 300 for _, s in mine),
                "calls": ", ".join(f"{call} x{n}" for call, n in calls.most_common())}
    return counted


def _sequential_copy(client, tree: Path, files: list[str], dest: str) -> tuple[float, int]:
    """One ``dbfs.put`` after another; (seconds, files done): stops after a sample when the
    whole copy would take longer than SEQUENTIAL_BUDGET_S."""
    start = time.perf_counter()
    for done, rel in enumerate(files, 1):
        contents = base64.b64encode((tree / rel).read_bytes()).decode()
        client.dbfs.put(f"{dest}/{rel}", contents=contents, overwrite=True)
        elapsed = time.perf_counter() - start
        if done == SEQUENTIAL_SAMPLE and elapsed * len(files) / done > SEQUENTIAL_BUDGET_S:
            return elapsed, done
    return time.perf_counter() - start, len(files)


def emulator_sync(tree: Path, work: Path, latency_ms: float = 20) -> list[dict]:
    """bricksmith's DatabricksBackend.upload against a sequential copy, on the emulator."""
    from databricks.sdk import WorkspaceClient

    from bricksmith.backends import databricks

    files = _files(tree)
    root, log = work / "emu", work / "emulator.log"
    shutil.rmtree(root, ignore_errors=True)
    workers = getattr(databricks, "UPLOAD_WORKERS", "N")
    tool = f"bricksmith ({workers} concurrent uploads)"
    with _emulator(root, latency_ms, log) as (url, token), _databricks_env(url, token, work):
        backend = databricks.DatabricksBackend(host=url, profile=None, cluster_id=None)
        statuses = _answers(backend.client)
        previous: dict = {}

        def bricksmith() -> dict:
            nonlocal previous
            previous = backend.upload(tree, TARGET, previous, lambda _: None)
            return {"files_copied": previous["_copied"]}

        rows, changed = _measure(tree, files, {tool: _counter(statuses, bricksmith)})
        _check_copy(tree, root / "dbfs" / TARGET[len("dbfs:/"):], files, changed, tool)

        client = WorkspaceClient(host=url, token=token)
        timing: dict = {}

        def sequential() -> dict:
            timing["seconds"], timing["done"] = _sequential_copy(
                client, tree, files, "/FileStore/bench-sequential")
            return {}

        counts = _counter(_answers(client), sequential)()
    seconds, done = timing["seconds"], timing["done"]
    scale = len(files) / done
    note = (f"all {len(files)} files" if done == len(files) else
            f"timed the first {done} of {len(files)} files ({seconds:.1f} s, "
            f"{counts['requests']} requests), extrapolated linearly")
    rows.append({"case": "first upload", "tool": "sequential copy", "seconds": seconds * scale,
                 "files_copied": len(files),
                 "requests": counts["requests"] and round(counts["requests"] * scale),
                 "non_2xx": counts["non_2xx"], "note": f"one dbfs.put per file; {note}"})
    for row in rows[:-1]:
        row["note"] = (f"latency {latency_ms:g} ms per request; median of "
                       f"{len(row['_requests_each'])}: requests {row['_requests_each']}; "
                       f"last: {row.pop('calls')}")
    problems = [line for line in log.read_text().splitlines() if "error" in line.lower()]
    if problems:
        print(f"emulator logged {len(problems)} error line(s), e.g. {problems[0]!r}; see {log}",
              file=sys.stderr)
    return [_public(row) for row in rows]


# -- running alone ---------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    columns = ("case", "tool", "seconds", "files_copied", "requests", "non_2xx", "note")

    def shown(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return "" if value is None else str(value)

    cells = [columns] + [tuple(shown(row.get(c)) for c in columns) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=int, default=200, help="total size of the tree")
    parser.add_argument("--latency-ms", type=float, default=20, help="of the emulator")
    args = parser.parse_args(argv)
    cache = Path("/tmp/bench-cache")
    tree = data_tree(cache / f"tree-{args.files}", files=args.files,
                     total_bytes=args.mb * 1024 * 1024)
    work = cache / f"sync-work-{args.files}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = local_sync(tree, work)
        rows += emulator_sync(tree, work, args.latency_ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
