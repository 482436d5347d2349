"""Every execution of a run is kept, and the guide's change (train_fraction 0.8 → 0.7) is
shown before/after: `runs --history`, `runs NAME`, `runs --json` and the report (in
headless Chromium), on the local backend through the CLI."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.test_report import FLAGS, chromium

pytestmark = pytest.mark.e2e

MEASURE = """<script>
const rows = [...document.querySelectorAll("#changes .change")].map(c => ({
  run: c.dataset.run,
  cause: c.querySelector(".cause").textContent,
  visible: c.getBoundingClientRect().height > 0,
  metrics: Object.fromEntries([...c.querySelectorAll("tr[data-metric]")].map(r => [
    r.dataset.metric, [r.querySelector(".before").textContent,
                       r.querySelector(".after").textContent]])),
}));
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify(rows);
document.body.append(out);
</script>"""


def test_the_guides_change_is_kept_and_compared(cli, seed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the log paths after apply are shown relative to here
    applied = cli("apply", seed)
    assert applied.code == 0
    first = cli("runs", seed, "--json").json()
    assert sorted((e["run"], e["execution"]) for e in first["history"]) == [
        ("baseline", 1), ("split-70", 1)]  # in the order they ended
    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    monkeypatch.setenv("COLUMNS", "80")
    again = cli("apply", seed, "-v")
    assert again.code == 0
    # -v at 80 columns: each Kedro record of the run's log is one whole line, never wrapped
    verbose = again.out.splitlines()
    node = ("INFO     Running node: report_accuracy: report_accuracy([y_pred;y_test;y_train;"
            "params:train_fraction]) -> [metrics]  node.py:")
    assert any(line.startswith("    run.baseline: [") and node in line for line in verbose)
    assert "    run.baseline: [bricksmith] node 3/3: report_accuracy" in verbose
    # from the Kedro session on (bricksmith's hooks registered), no record is continued on
    # an indented line of its own (rich's wrapping); `%load_ext`'s few lines come before
    session = next(i for i, line in enumerate(verbose)
                   if line.startswith("    run.baseline: ===== [notebook] cell 5/8"))
    assert not any(line.startswith("    run.baseline:" + " " * 20) for line in verbose[session:])

    data = cli("runs", seed, "--json").json()
    baseline = [e for e in data["history"] if e["run"] == "baseline"]
    assert [e["execution"] for e in baseline] == [1, 2]  # the first one is not overwritten
    old, new = baseline
    assert old["effective_params"] == {"train_fraction": 0.8}
    assert new["effective_params"] == {"train_fraction": 0.7}
    for execution in baseline:
        assert execution["status"] == "succeeded" and execution["commit"]
        assert execution["started_at"] <= execution["finished_at"]
        assert isinstance(execution["metrics"]["accuracy"], float)
        assert execution["duration_s"] > 0
    assert old["commit"] != new["commit"]  # the change was committed before the second run
    # each execution its own log, which the history row names; baseline.log is the latest
    logs = tmp_path / ".bricksmith/local/logs/runs"
    assert old["log"] != new["log"]
    assert {Path(e["log"]).parent for e in baseline} == {logs / "baseline"}
    assert sorted(p.name for p in (logs / "baseline").iterdir()) == sorted(
        Path(e["log"]).name for e in baseline)
    assert "accuracy of 0.933" in Path(old["log"]).read_text()  # train_fraction 0.8
    assert "accuracy of 0.956" in Path(new["log"]).read_text()  # 0.7
    assert (logs / "baseline.log").resolve() == Path(new["log"]).resolve()
    # after each apply, one line per run names its log, whole, in 80 columns
    for result, execution in ((applied, first["history"]), (again, data["history"][2:])):
        logged = {e["run"]: e["log"] for e in execution}
        lines = result.out.split("Run logs:\n", 1)[1].splitlines()[:2]
        assert dict(line.split() for line in lines) == {
            run: str(Path(path).relative_to(tmp_path)) for run, path in logged.items()}
    assert old["metrics"]["n_train"] == 120 and new["metrics"]["n_train"] == 105
    # the latest of each run is what status says
    assert {r["name"]: r["metrics"] for r in data["runs"]}["baseline"] == new["metrics"]
    changes = {c["run"]: c for c in data["changes"]}
    assert changes["baseline"]["params"] == [
        {"key": "train_fraction", "before": 0.8, "after": 0.7}]
    assert {"name": "n_train", "before": 120, "after": 105} in changes["baseline"]["metrics"]

    # the rows of the state: one per execution, in its own table
    with sqlite3.connect(tmp_path / ".bricksmith/local/state.db") as db:
        rows = db.execute("SELECT step, status FROM executions ORDER BY id").fetchall()
    assert rows.count(("run.baseline", "succeeded")) == 2

    monkeypatch.setenv("COLUMNS", "80")
    text = cli("runs", seed, "--history").out
    assert "run baseline, execution 1 → 2: train_fraction 0.8 → 0.7" in text
    assert "n_train: 120 → 105 (-15)" in text
    assert max(len(line) for line in text.splitlines()) <= 80, text
    one = cli("runs", seed, "baseline").out  # `runs SPEC NAME`: that run's executions only
    assert "baseline" in one and "split-70" not in one
    bad = cli("runs", seed, "nosuch")
    assert bad.code == 1 and "the spec has no run 'nosuch'" in bad.err and "baseline" in bad.err

    # the report: before and after, side by side, with the change that caused it
    out = tmp_path / "report.html"
    assert cli("report", seed, "--out", out).code == 0
    page = out.read_text()
    assert 'id="changes"' in page and "train_fraction 0.8 → 0.7" in page
    chromium()
    probe = tmp_path / "probe.html"
    from bricksmith.report import CSP

    probe.write_text(page.replace(CSP, CSP + "; script-src 'unsafe-inline'").replace(
        "</body>", MEASURE + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         probe.as_uri()],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    drawn = {c["run"]: c for c in json.loads(html.unescape(found.group(1)))}
    assert drawn["baseline"]["visible"]
    assert drawn["baseline"]["cause"] == "train_fraction 0.8 → 0.7"
    assert drawn["baseline"]["metrics"]["n_train"] == ["120", "105"]
    accuracy = drawn["baseline"]["metrics"]["accuracy"]
    assert accuracy == [f"{old['metrics']['accuracy']:.4g}", f"{new['metrics']['accuracy']:.4g}"]
