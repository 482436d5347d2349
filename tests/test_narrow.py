"""Terminal captures at 80 and 120 columns (rich's Console with a fixed width): runs, the run
history, status and the live apply table never drop or cut a run or step name (a long one
loses its middle, never an end), round numbers instead of cutting them, and show a param that
is also a metric once, marked."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from bricksmith.engine.executor import FAILED_EVT, LOG, OUTPUT, STARTED, SUCCEEDED_EVT, Event
from bricksmith.progress import ApplyProgress
from bricksmith.run_history import rich_history
from bricksmith.runs import compare_runs, fit, rich_table, shorten_middle

LONG = "baseline_with_a_rather_long_descriptive_name_for_the_experiment"
ERROR = ("run smaller_train failed: the notebook failed because of something long and very "
         "explanatory indeed that goes on and on for a good while longer than any terminal")
STATUS = {"target": "dev", "runs": [
    {"name": LONG, "status": "succeeded",
     "params": {"train_fraction": 0.8, "random_state": 3},
     "metrics": {"accuracy": 0.96666666, "train_fraction": 0.8}, "duration_s": 12.3,
     "finished_at": "2026-11-30T17:22:03+00:00"},
    {"name": "smaller_train", "status": "failed",
     "params": {"train_fraction": 0.7, "random_state": 4}, "metrics": {}, "error": ERROR,
     "finished_at": "2026-11-30T17:22:03+00:00"},
]}


def capture(renderable, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width, text
    return text


def test_shorten_middle_keeps_both_ends():
    assert shorten_middle("short", 30) == "short"
    short = shorten_middle(LONG, 30)
    assert len(short) == 30 and short.startswith("baseline_with_a") and short.endswith(
        "experiment") and "…" in short


@pytest.mark.parametrize("width", [80, 120])
def test_runs_table_keeps_names_rounds_numbers_and_shows_a_key_once(width):
    comparison = compare_runs(STATUS, {"train_fraction": 0.8})
    text = capture(rich_table(comparison, width=width), width)
    assert "smaller_train" in text
    assert shorten_middle(LONG, 30 if width < 100 else 40) in text
    assert ("0.967" if width < 100 else "0.9667") in text  # rounded, never cut
    assert "0.966" not in text.replace("0.9667", "")
    # train_fraction is a param and a metric: shown once (per run's card), marked
    lines = [line for line in text.splitlines() if "train_fraction" in line]
    if "metric=param train_fraction" in text:  # one small table per run
        assert len(lines) == 2 and all("metric=param train_fraction" in x for x in lines)
    else:
        assert len(lines) == 1 and "metric=param" in text
    assert "random_state" in text


@pytest.mark.parametrize("width", [80, 120])
def test_status_table_cuts_the_error_first_never_a_step_name(width):
    steps = [f"data.upload[{i}]" for i in range(3)] + ["run.a_very_long_run_name_" + "x" * 40]
    most = 40 if width < 100 else 50  # what `bricksmith status` gives
    rows = [[shorten_middle(s, most), "failed", "2026-11-30T17:22:03+00:00", ERROR]
            for s in steps]
    heads = [("", "step", "run"), ("", "status", "status"), ("", "finished", "finished"),
             ("", "error", "error")]
    text = capture(fit("Steps", heads, rows, ["failed"] * 4, width=width), width)
    assert "┃ step" in text  # one table, not a card per step
    for step in steps:
        assert shorten_middle(step, most) in text
    # the message gives way (cut with …, its start kept), never a name
    assert text.count("…") >= 4 and ("smaller…" in text or "run smaller_train fail" in text)
    assert ERROR[:60] not in text.replace("\n", "") or width > 200


def test_history_fits_80_columns_and_marks_params_that_are_metrics():
    history = [
        {"run": LONG, "execution": n, "status": "succeeded", "commit": "abcdef0123456789",
         "effective_params": {"train_fraction": tf, "seed": 1},
         "metrics": {"accuracy": acc, "train_fraction": tf, "n_train": nt},
         "duration_s": 7.0, "finished_at": "2026-11-30T17:22:03+00:00"}
        for n, tf, acc, nt in ((1, 0.8, 0.93333, 120), (2, 0.7, 0.95555, 105))
    ]
    for width in (80, 120):
        text = capture(rich_history(history, width=width), width)
        assert shorten_middle(LONG, 30 if width < 100 else 40) in text
        assert ("0.956" if width < 100 else "0.9556") in text
        assert "0.9555" not in text and "0.955 " not in text  # rounded, never cut
        for line in text.splitlines():
            if "train_fraction" in line and "┃" not in line:
                assert "metric=param" in line or "━" in line
        assert "abcdef01" in text


@pytest.mark.parametrize("width", [80, 120])
def test_live_apply_table_keeps_step_names_and_cuts_the_message(width):
    steps = ["project.scaffold", "run.baseline_with_a_rather_long_descriptive_name_x" + "y" * 30]
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    progress = ApplyProgress(console, steps, live=False, verbose=False)
    progress._print_line = lambda event: None  # the table only
    progress(Event(STARTED, steps[0], "create the project"))
    progress(Event(SUCCEEDED_EVT, steps[0], elapsed_s=2.5))
    progress(Event(STARTED, steps[1], "run the project notebook"))
    progress(Event(LOG, steps[1], "building the environment " + "z" * 200))
    console.print(progress)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "project.scaffold" in text
    assert shorten_middle(steps[1], 40 if width < 100 else 50) in text
    assert "building the" in text and "z" * 200 not in text
    progress(Event(FAILED_EVT, steps[1], "boom"))


# -- where a run is, -v lines, run logs (issue 18.4) ---------------------------------------

RECORDED = Path(__file__).parent / "fixtures" / "progress" / "baseline.log"
RUN_STEPS = ["project.scaffold", "run.baseline", "run.databricks-run"]


def table_at(progress: ApplyProgress, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(progress)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width, text
    return text


def row_of(text: str, step: str) -> str:
    (line,) = [line for line in text.splitlines() if step in line]
    return line


@pytest.mark.parametrize("width", [80, 120])
def test_live_table_shows_the_cell_and_node_a_recorded_run_is_on(width):
    console = Console(width=width, file=io.StringIO(), color_system=None)
    progress = ApplyProgress(console, RUN_STEPS, live=False, verbose=False)
    progress._print_line = lambda event: None  # the table only
    progress(Event(SUCCEEDED_EVT, "project.scaffold", elapsed_s=1.0))
    progress(Event(STARTED, "run.baseline", "run the project notebook"))
    progress(Event(LOG, "run.baseline", "reused the cached run environment"))
    assert "reused the cached run environment" in row_of(table_at(progress, width),
                                                          "run.baseline")
    shown = []  # the run's row after each line of a real run's log
    for line in RECORDED.read_text(encoding="utf-8").splitlines():
        progress(Event(OUTPUT, "run.baseline", line))
        shown.append(row_of(table_at(progress, width), "run.baseline"))
    assert any("running" in r and r.rstrip().endswith("cell 4/8 %load_ext kedro.ipython")
               for r in shown)
    during = [r for r in shown if "· node" in r]
    assert list(dict.fromkeys(r.split("· ")[1].strip() for r in during)) == [
        "node 1/3 split", "node 2/3 make_predictions", "node 3/3 report_accuracy"]
    assert all("cell 7/8 · node" in r for r in during)
    assert "cell 8/8 import json" in shown[-1] and "node" not in shown[-1]
    # no Kedro line takes the message column: only where the run is
    assert not any("INFO" in r or "Loading data" in r for r in shown)
    progress(Event(LOG, "run.baseline", "run baseline finished: {\"accuracy\": 0.956}"))
    progress(Event(SUCCEEDED_EVT, "run.baseline", elapsed_s=3.4))
    done = row_of(table_at(progress, width), "run.baseline")
    assert "done" in done and "cell" not in done and "run baseline finished" in done


@pytest.mark.parametrize("width", [80, 120])
def test_live_table_shows_a_databricks_runs_state_and_page_never_a_node(width):
    console = Console(width=width, file=io.StringIO(), color_system=None)
    progress = ApplyProgress(console, RUN_STEPS, live=False, verbose=False)
    progress._print_line = lambda event: None
    step, page = "run.databricks-run", "https://adb-1.azuredatabricks.net/#job/7/run/42"
    progress(Event(STARTED, step, "run the project notebook"))
    progress(Event(LOG, step, f"job run 42: PENDING — {page}"))
    progress(Event(LOG, step, "job run 42: RUNNING"))
    row = row_of(table_at(progress, width), step)
    assert "job run 42: RUNNING — https://adb-1" in row
    assert "cell" not in row and "node" not in row
    if width >= 120:
        assert page in row


@pytest.mark.parametrize("live", [False, True])
def test_verbose_kedro_lines_are_never_wrapped_or_cut_at_80_columns(live, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    console = Console(file=out, force_terminal=live, color_system=None)
    assert console.width == 80
    kedro = ("[11/30/26 18:57:25] INFO     Running node: report_accuracy: report_accuracy("
             "[y_pred;y_test;y_train;params:train_fraction]) -> [metrics]  node.py:531")
    with ApplyProgress(console, ["run.baseline"], live=live, verbose=True) as progress:
        progress(Event(STARTED, "run.baseline", "run the project notebook"))
        progress(Event(OUTPUT, "run.baseline", kedro))
        progress(Event(LOG, "run.baseline", "metrics from notebook exit value: " + "m" * 90))
        progress(Event(SUCCEEDED_EVT, "run.baseline", elapsed_s=1.0))
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).replace("\r", "\n")
    lines = lines.splitlines()
    assert f"    run.baseline: {kedro}" in lines  # one line, longer than 80, as it was
    assert f"    run.baseline: metrics from notebook exit value: {'m' * 90}" in lines


@pytest.mark.parametrize("width", [80, 120])
def test_run_log_paths_one_line_per_run(width, tmp_path):
    from bricksmith.runs import log_lines

    logs = tmp_path / ".bricksmith/local/logs/runs"
    runs = [
        {"name": "baseline", "log": str(logs / "baseline/20261130T185611Z.log")},
        {"name": LONG, "log": str(logs / f"{LONG}/20261130T185611Z.log")},
        {"name": "never-ran", "log": None},
    ]
    lines = log_lines(runs, width=width, cwd=tmp_path)
    assert len(lines) == 2  # a run without a log has no line
    assert lines[0].split() == ["baseline", ".bricksmith/local/logs/runs/baseline/"
                                "20261130T185611Z.log"]
    # the path is whole (copyable); a long name gives way, keeping both its ends
    assert lines[1].endswith(f"  .bricksmith/local/logs/runs/{LONG}/20261130T185611Z.log")
    name = lines[1].split()[0]
    assert name.startswith("baseline_w") and name.endswith("xperiment") and len(name) == 20
    assert lines[0].index(".bricksmith") == lines[1].index(".bricksmith")  # aligned
    outside = log_lines([{"name": "a", "log": "/elsewhere/a.log"}], cwd=tmp_path)
    assert outside == ["  a  /elsewhere/a.log"]
