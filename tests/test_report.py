"""bricksmith.report: the HTML page, checked as text and as Chromium draws it."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import pytest

from bricksmith.report import CSP, nice_ticks, render_html, write_report
from bricksmith.runs import compare_runs
from tests.test_runs import run, status

SPECS = Path(__file__).resolve().parents[1] / "specs"
WHEN = "2026-01-02T03:04:05+00:00"


def sample():
    return compare_runs(
        status(
            run("baseline", metrics={"accuracy": 0.91, "n_train": 120, "model": "rf"}),
            run("split-70", params={"train_fraction": 0.7}, metrics={"accuracy": 0.97}),
            run("small", params={"train_fraction": 0.5}, metrics={"accuracy": 0.85}),
            run("broken", status="failed", params={"seed": 2}, error="run broken failed: boom"),
        ),
        {"train_fraction": 0.8},
    )


def page(comparison=None, title="iris-databricks") -> str:
    return render_html(comparison or sample(), title=title, generated_at=WHEN)


class Elements(HTMLParser):
    """Every start tag as (tag, attributes), plus the text of <td> cells."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.cells: list[str] = []
        self._in_td = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._in_td = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            self.cells[-1] += data

    def bars(self) -> dict[str, list[dict]]:
        charts: dict[str, list[dict]] = {}
        metric = None
        for tag, attrs in self.tags:
            if tag == "svg":
                metric = attrs["data-metric"]
                charts[metric] = []
            elif tag == "rect" and "bar" in attrs.get("class", ""):
                charts[metric].append(attrs)
        return charts


# -- the page as text --------------------------------------------------------------------------


def test_page_has_heading_table_and_one_chart_per_numeric_metric():
    text = page()
    assert "<h1>iris-databricks</h1>" in text and "target <b>local</b>" in text
    assert WHEN in text
    parsed = Elements(text)
    bars = parsed.bars()
    assert list(bars) == ["accuracy", "n_train"]  # 'model' is text: table only
    assert [b["data-run"] for b in bars["accuracy"]] == ["baseline", "split-70", "small"]
    assert [b["data-run"] for b in bars["n_train"]] == ["baseline"]
    heights = {b["data-run"]: float(b["height"]) for b in bars["accuracy"]}
    assert heights["small"] < heights["baseline"] < heights["split-70"]
    assert "rf" in parsed.cells and "0.97" in parsed.cells
    assert "-" in parsed.cells  # the failed run's metrics, the missing seed
    header = re.search(r"<thead>(.*)</thead>", text).group(1)
    assert ">train_fraction<" in header and ">seed<" in header  # both differ between runs


def test_rendering_is_deterministic():
    from datetime import datetime, timezone

    assert page() == page()
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert render_html(sample(), title="iris-databricks", generated_at=moment) == page()


def test_user_text_is_escaped_everywhere():
    nasty = "<b>x</b>"
    comparison = compare_runs(
        {
            "target": "<t>",
            "runs": [
                run(
                    nasty,
                    params={"p": nasty},
                    metrics={nasty: 1.5, "note": nasty},
                    error=f"{nasty}\nmore",
                ),
                run("other", params={"p": "y"}, metrics={nasty: 2.5}),
            ],
        },
        {},
    )
    text = page(comparison, title='<script>alert("t")</script>')
    assert nasty not in text and "<t>" not in text and "<script" not in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "&lt;script&gt;" in text
    chart = Elements(text).bars()
    assert list(chart) == [nasty]  # the parser unescapes attributes: the name survives
    assert [b["data-run"] for b in chart[nasty]] == [nasty, "other"]


def test_page_is_self_contained():
    text = page()
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", text, re.I)
    assert "url(" not in text and "@import" not in text
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert "default-src 'none'" in CSP


def test_a_run_page_url_is_a_link_never_a_resource():
    comparison = compare_runs(
        status(
            run("remote", run_page_url="https://adb-1.azuredatabricks.net/#job/1/run/2"),
            run("sneaky", run_page_url="javascript:alert(1)"),
        ),
        {},
    )
    tags = Elements(page(comparison)).tags
    links = [attrs["href"] for tag, attrs in tags if tag == "a"]
    assert links == ["https://adb-1.azuredatabricks.net/#job/1/run/2"]
    assert not [a for _, a in tags for k, v in a.items() if k != "href" and "//" in (v or "")]


def test_no_numeric_metrics_and_no_runs_say_so():
    pending = compare_runs(status(run("a", status="pending")), {})
    assert "No numeric metrics recorded yet." in page(pending) and "<svg" not in page(pending)
    empty = compare_runs(status(), {})
    assert "This workflow has no runs." in page(empty)


def test_negative_and_zero_values_get_bars_from_the_zero_line():
    comparison = compare_runs(
        status(
            run("a", metrics={"loss": -2.0}),
            run("b", metrics={"loss": 0}),
            run("c", metrics={"loss": 3.0}),
        ),
        {},
    )
    bars = {b["data-run"]: b for b in Elements(page(comparison)).bars()["loss"]}
    zero_line = float(bars["a"]["y"])  # a negative bar starts at zero and goes down
    assert float(bars["c"]["y"]) + float(bars["c"]["height"]) == pytest.approx(zero_line)
    assert 0 < float(bars["b"]["height"]) <= 1  # a hairline
    assert float(bars["a"]["height"]) < float(bars["c"]["height"])


def test_nice_ticks_cover_the_range_in_round_steps():
    assert nice_ticks(0, 0.956) == [0, 0.5, 1.0]
    assert nice_ticks(0, 120) == [0, 50, 100, 150]
    ticks = nice_ticks(-2, 3)
    assert ticks[0] <= -2 and ticks[-1] >= 3 and 0 in ticks
    assert nice_ticks(0, 0) == [0, 0.5, 1.0]


def test_write_report_replaces_the_file_atomically(tmp_path, monkeypatch):
    target = tmp_path / "out" / "report.html"
    assert write_report(target, "first") == target
    write_report(target, "second")
    assert target.read_text() == "second"

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_report(target, "third")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


# -- the page as Chromium draws it --------------------------------------------------------------

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)

# appended to a copy of the page: measures what was laid out and writes it into the DOM
MEASURE = """<script>
const box = el => {
  const b = el.getBoundingClientRect();
  return {width: b.width, height: b.height};
};
const charts = [...document.querySelectorAll("svg.chart")].map(svg => ({
  metric: svg.dataset.metric, ...box(svg),
  bars: [...svg.querySelectorAll("rect.bar")].map(r => ({
    run: r.dataset.run, value: Number(r.dataset.value), ...box(r),
    shown: getComputedStyle(r).display !== "none" && getComputedStyle(r).visibility !== "hidden",
  })),
}));
const styled = getComputedStyle(document.querySelector("figure")).borderTopStyle === "solid";
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify({styled, charts});
document.body.append(out);
</script>"""


def chromium() -> str:
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = (
        "Chromium is not installed; the report's browser test needs it (apt-get install chromium)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def drawn(report: Path, tmp_path: Path) -> dict:
    """Open ``report`` in headless Chromium: what it laid out, per chart and bar."""
    browser = chromium()
    text = report.read_text(encoding="utf-8")
    assert CSP in text
    probe = tmp_path / "probe.html"  # the page, allowed to run only the measuring script
    probe.write_text(
        text.replace(CSP, CSP + "; script-src 'unsafe-inline'").replace(
            "</body>", MEASURE + "</body>"
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            browser,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, f"Chromium drew nothing (exit {done.returncode}): {done.stderr[-3000:]}"
    return json.loads(html.unescape(found.group(1)))


def assert_drawn_like_values(chart: dict) -> None:
    assert chart["width"] > 100 and chart["height"] > 100
    for bar in chart["bars"]:
        assert bar["shown"] and bar["width"] > 0 and bar["height"] > 0, bar
    ordered = sorted(chart["bars"], key=lambda bar: bar["value"])
    heights = [bar["height"] for bar in ordered]
    assert heights == sorted(heights), ordered
    for low, high in pairwise(ordered):
        if high["value"] > low["value"]:
            assert high["height"] > low["height"], (low, high)


def test_chromium_draws_one_bar_per_run_with_the_metric(tmp_path):
    report = write_report(tmp_path / "report.html", page())
    result = drawn(report, tmp_path)
    assert result["styled"], "the inline stylesheet was not applied"
    charts = {chart["metric"]: chart for chart in result["charts"]}
    assert list(charts) == ["accuracy", "n_train"]
    assert [bar["run"] for bar in charts["accuracy"]["bars"]] == ["baseline", "split-70", "small"]
    assert len(charts["n_train"]["bars"]) == 1
    for chart in charts.values():
        assert_drawn_like_values(chart)


@pytest.mark.e2e
def test_report_of_the_applied_seed_workflow(tmp_path):
    from bricksmith import api
    from bricksmith.cli import main

    chromium()  # skip before the apply when there is no browser
    spec = tmp_path / "iris.yaml"
    shutil.copy(SPECS / "iris.yaml", spec)
    assert main(["--no-color", "apply", str(spec)]) == 0
    workflow = api.load(spec)
    comparison = compare_runs(workflow.status(), workflow.spec.workflow.project.params)
    # the starter's metrics echo train_fraction: shown once, as a metric marked as a param
    assert comparison.varying_params == () and comparison.also_params == ("train_fraction",)
    assert {"accuracy", "n_train"} <= set(comparison.numeric_metrics)
    report = write_report(
        workflow.root / "report.html",
        render_html(comparison, title=workflow.spec.workflow.name, generated_at=WHEN),
    )
    charts = {chart["metric"]: chart for chart in drawn(report, tmp_path)["charts"]}
    for metric in comparison.numeric_metrics:
        assert [bar["run"] for bar in charts[metric]["bars"]] == ["baseline", "split-70"]
        assert_drawn_like_values(charts[metric])
    n_train = {bar["run"]: bar["height"] for bar in charts["n_train"]["bars"]}
    assert n_train["baseline"] > n_train["split-70"]  # 120 rows against 105


# the before/after section, measured: each metric's two values on one row, before left of after
SIDE_BY_SIDE = """<script>
const rect = el => { const b = el.getBoundingClientRect();
  return {left: b.left, right: b.right, top: b.top, bottom: b.bottom,
          width: b.width, height: b.height}; };
const changes = [...document.querySelectorAll("#changes .change")].map(c => ({
  run: c.dataset.run,
  cause: c.querySelector(".cause").textContent,
  heads: Object.fromEntries([...c.querySelectorAll("thead th")].map(
    th => [th.textContent, rect(th)])),
  metrics: [...c.querySelectorAll("tr[data-metric]")].map(r => ({
    name: r.dataset.metric,
    before: {text: r.querySelector(".before").textContent, ...rect(r.querySelector(".before"))},
    after: {text: r.querySelector(".after").textContent, ...rect(r.querySelector(".after"))},
  })),
}));
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify({viewport: window.innerWidth, changes});
document.body.append(out);
</script>"""


def guide_history() -> list[dict]:
    """Two executions of each run: the guide's change (train_fraction 0.8 → 0.7) on baseline."""
    def execution(run, n, fraction, accuracy, n_train):
        return {"run": run, "execution": n, "status": "succeeded", "commit": f"c{n}",
                "effective_params": {"train_fraction": fraction},
                "metrics": {"accuracy": accuracy, "n_train": n_train}}

    return [execution("baseline", 1, 0.8, 0.9333333, 120),
            execution("split-70", 1, 0.7, 0.9555556, 105),
            execution("baseline", 2, 0.7, 0.9555556, 105),
            execution("split-70", 2, 0.7, 0.9555556, 105)]


@pytest.mark.parametrize("window", ["1280,1000", "800,900"])
def test_chromium_shows_the_guides_change_before_and_after_side_by_side(tmp_path, window):
    from bricksmith.run_history import before_after

    browser = chromium()
    changes = before_after(guide_history())
    text = render_html(sample(), title="iris", generated_at=WHEN, changes=changes)
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace(CSP, CSP + "; script-src 'unsafe-inline'").replace(
        "</body>", SIDE_BY_SIDE + "</body>"), encoding="utf-8")
    flags = [f for f in FLAGS if not f.startswith("--window-size")]
    done = subprocess.run(
        [browser, *flags, f"--window-size={window}",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, f"Chromium drew nothing (exit {done.returncode}): {done.stderr[-3000:]}"
    measured = json.loads(html.unescape(found.group(1)))
    drawn_changes = {c["run"]: c for c in measured["changes"]}
    assert list(drawn_changes) == ["baseline", "split-70"]
    baseline = drawn_changes["baseline"]
    assert baseline["cause"] == "train_fraction 0.8 → 0.7"
    assert drawn_changes["split-70"]["cause"] == "no parameter changed"
    values = {m["name"]: (m["before"]["text"], m["after"]["text"]) for m in baseline["metrics"]}
    assert values == {"accuracy": ("0.9333", "0.9556"), "n_train": ("120", "105")}
    heads = baseline["heads"]
    for metric in baseline["metrics"]:
        before, after = metric["before"], metric["after"]
        for cell in (before, after):  # drawn, and inside the window: no scrolling to see it
            assert cell["width"] > 0 and cell["height"] > 0, metric
            assert cell["left"] >= 0 and cell["right"] <= measured["viewport"], metric
        assert abs(before["top"] - after["top"]) < 1, metric  # one row: side by side
        assert before["right"] <= after["left"], metric  # before, then after
        # under their headings
        assert heads["before"]["left"] <= before["right"] and before["left"] <= heads[
            "before"]["right"]
        assert heads["after"]["left"] <= after["right"] and after["left"] <= heads[
            "after"]["right"]
        assert heads["before"]["bottom"] <= before["top"] + 1
