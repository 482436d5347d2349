"""bricksmith.runs: runs side by side, from status dicts built here (no apply)."""

from __future__ import annotations

import json

from rich.console import Console

from bricksmith.runs import (
    cell,
    columns,
    compare_runs,
    format_duration,
    format_value,
    rich_table,
)


def run(name, status="succeeded", params=None, metrics=None, **extra):
    return {
        "name": name,
        "status": status,
        "params": params or {},
        "metrics": metrics,
        "duration_s": extra.get("duration_s", 2.0 if status == "succeeded" else None),
        "log": None,
        "run_page_url": extra.get("run_page_url"),
        "finished_at": extra.get("finished_at"),
        "error": extra.get("error"),
    }


def status(*runs):
    return {"target": "local", "steps": [], "runs": list(runs)}


def cells(comparison, name):
    """{column name: text} of one run (params and metrics of the same name: metrics win)."""
    row = next(r for r in comparison.runs if r.name == name)
    return {c.name: cell(row, c) for c in columns(comparison)}


def test_only_params_that_differ_become_columns_and_the_rest_is_shared():
    comparison = compare_runs(
        status(run("baseline"), run("split-70", params={"train_fraction": 0.7})),
        {"train_fraction": 0.8, "seed": 1},
    )
    assert comparison.varying_params == ("train_fraction",)
    assert dict(comparison.shared_params) == {"seed": 1}
    assert [dict(r.params) for r in comparison.runs] == [
        {"train_fraction": 0.8},  # the project's value: the effective params
        {"train_fraction": 0.7},
    ]
    assert comparison.shared_note() == "All runs share: seed=1"
    params = [c.name for c in columns(comparison) if c.kind == "param"]
    assert params == ["train_fraction"]


def test_when_every_run_has_the_same_params_no_param_column_appears():
    same = compare_runs(status(run("a"), run("b", params={"k": "v"})), {"k": "v"})
    assert same.varying_params == ()
    assert not [c for c in columns(same) if c.kind == "param"]
    assert same.shared_note() == "All runs share: k=v"
    bare = compare_runs(status(run("a"), run("b")), {})
    assert bare.varying_params == () and bare.shared_note() == "No parameters set."


def test_a_param_set_by_some_runs_only_differs_and_shows_as_missing_elsewhere():
    comparison = compare_runs(
        status(run("a"), run("b", params={"depth": 3})), {"train_fraction": 0.8}
    )
    assert comparison.varying_params == ("depth",)
    assert cells(comparison, "a")["depth"] == "-"
    assert cells(comparison, "b")["depth"] == "3"


def test_values_compare_by_content_not_by_key_order_or_loose_equality():
    nested = {"opts": {"x": 1, "y": [1, 2]}}
    reordered = {"opts": {"y": [1, 2], "x": 1}}
    comparison = compare_runs(status(run("a", params=nested), run("b", params=reordered)), {})
    assert comparison.varying_params == ()
    loose = compare_runs(status(run("a", params={"n": 1}), run("b", params={"n": 1.0})), {})
    assert loose.varying_params == ("n",)  # 1 and 1.0 are different YAML values


def test_metric_names_are_the_union_and_only_numbers_are_charted():
    comparison = compare_runs(
        status(
            run("a", metrics={"accuracy": 0.9, "model": "rf"}),
            run("b", metrics={"accuracy": 0.8, "f1": 0.7, "ok": True, "bad": float("nan")}),
            run("c", metrics={"huge": 10**400}),
        ),
        {},
    )
    assert comparison.metric_names == ("accuracy", "model", "f1", "ok", "bad", "huge")
    assert comparison.numeric_metrics == ("accuracy", "f1")
    assert cells(comparison, "a")["f1"] == "-"
    assert cells(comparison, "a")["model"] == "rf"
    assert cells(comparison, "b")["ok"] == "true"


def test_runs_without_metrics_are_kept_with_dashes():
    comparison = compare_runs(
        status(
            run("done", metrics={"accuracy": 0.9333333}, finished_at="2026-01-02T03:04:05+00:00"),
            run("broken", status="failed", error="run broken failed: boom\nTraceback ..."),
            run("later", status="pending"),
        ),
        {},
    )
    assert [r.status for r in comparison.runs] == ["succeeded", "failed", "pending"]
    assert comparison.numeric_metrics == ("accuracy",)
    assert cells(comparison, "done") == {
        "run": "done",
        "status": "succeeded",
        "accuracy": "0.9333",
        "duration": "2.0s",
        "finished": "2026-01-02 03:04:05 UTC",
        "error": "",
    }
    assert cells(comparison, "broken")["accuracy"] == "-"
    assert cells(comparison, "broken")["error"] == "run broken failed: boom"
    assert cells(comparison, "later")["duration"] == cells(comparison, "later")["finished"] == "-"


def test_the_error_column_appears_only_when_a_run_failed_with_an_error():
    comparison = compare_runs(status(run("a", metrics={"m": 1})), {})
    assert [c.kind for c in columns(comparison)] == [
        "run",
        "status",
        "metric",
        "duration",
        "finished",
    ]


def test_no_runs_gives_an_empty_comparison():
    comparison = compare_runs({"target": "dev", "steps": [], "runs": []}, {"k": 1})
    assert comparison.target == "dev"
    assert comparison.runs == () and comparison.metric_names == ()


def test_formatting():
    assert format_value(0.93333333) == "0.9333"
    assert format_value(120) == "120"
    assert format_value(0.00012) == "1.200e-04"
    assert format_value({"b": 1, "a": [1]}) == '{"a": [1], "b": 1}'
    assert format_value(None) == "null"
    assert format_duration(1.94) == "1.9s"
    assert format_duration(125) == "2m05s"
    assert format_duration(3725) == "1h02m"
    assert format_duration(None) == "-"


def test_the_rich_table_shows_every_run_and_treats_names_as_plain_text():
    comparison = compare_runs(
        status(
            run("[red]x[/red]", params={"lr": 0.1}, metrics={"accuracy": 0.9}),
            run("pending-one", status="pending", params={"lr": 0.2}),
        ),
        {"seed": 7},
    )
    console = Console(record=True, width=200, no_color=True)
    console.print(rich_table(comparison))
    text = console.export_text()
    assert "[red]x[/red]" in text  # not taken as markup
    assert "pending-one" in text and "0.9" in text and "lr" in text and "accuracy" in text
    assert "All runs share: seed=7" in text
    row = next(line for line in text.splitlines() if "pending-one" in line)
    assert row.count(" - ") >= 3  # accuracy, duration, finished


def test_strings_that_read_as_something_else_are_shown_quoted():
    for text in ("007", "yes", "null", "", "  padded  ", "1.50", "k: v", "a # b c", "x\ny"):
        shown = format_value(text)
        if text == "a # b c":
            assert shown == '"a # b c"'  # YAML would cut the comment
        else:
            assert shown == json.dumps(text), text
    assert format_value("say hi") == "say hi" and format_value("héllo") == "héllo"
    assert format_value(7) == "7" and format_value(None) == "null"
