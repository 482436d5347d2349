"""The apply display: a live table on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from bricksmith.engine.executor import FAILED_EVT, LOG, SKIPPED, STARTED, SUCCEEDED_EVT, Event
from bricksmith.progress import FULL_TABLE_UP_TO, ApplyProgress, use_live_display

STEPS = ["project.scaffold", "git.commit", "run.baseline", "run.split-70"]


def console(*, terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=120, color_system=None)


def text_of(con: Console, renderable) -> str:
    with con.capture() as captured:
        con.print(renderable)
    return captured.get()


def feed(progress: ApplyProgress) -> None:
    progress(Event(SKIPPED, "project.scaffold", "up to date"))
    progress(Event(STARTED, "git.commit", "commit the project"))
    progress(Event(LOG, "git.commit", "committed 0123456789"))
    progress(Event(SUCCEEDED_EVT, "git.commit", elapsed_s=0.25))
    progress(Event(STARTED, "run.baseline", "run the project notebook"))
    progress(Event(LOG, "run.baseline", "run page: https://example/run/1"))
    progress(Event(STARTED, "run.split-70", "run the project notebook"))
    progress(Event(FAILED_EVT, "run.split-70", "run split-70 failed: boom\nmore", 1.5))


def test_the_live_table_shows_every_step_with_its_state_time_and_latest_message():
    con = console(terminal=True)
    progress = ApplyProgress(con, STEPS, live=False, verbose=False)
    feed(progress)
    shown = text_of(con, progress)
    lines = {line.split()[1]: line for line in shown.splitlines() if len(line.split()) > 1}
    assert "skipped" in lines["project.scaffold"] and "up to date" in lines["project.scaffold"]
    assert "done" in lines["git.commit"] and "0.2s" in lines["git.commit"]
    assert "committed 0123456789" in lines["git.commit"]
    assert "running" in lines["run.baseline"] and "https://example/run/1" in lines["run.baseline"]
    assert "failed" in lines["run.split-70"] and "boom" in lines["run.split-70"]
    assert "more" not in shown  # the first line of an error only
    assert "1 done · 1 up to date · 1 running · 0 waiting · 1 failed" in shown


def test_a_large_apply_shows_what_runs_and_the_counts_not_every_step():
    con = console(terminal=True)
    steps = [f"data.upload[{i}]" for i in range(FULL_TABLE_UP_TO * 10)]
    progress = ApplyProgress(con, steps, live=False, verbose=False)
    for key in steps[:100]:
        progress(Event(SKIPPED, key, "up to date"))
    progress(Event(STARTED, steps[100], "copy"))
    shown = text_of(con, progress)
    assert len(shown.splitlines()) < 15
    assert steps[100] in shown and steps[99] in shown and steps[0] not in shown
    assert "0 done · 100 up to date · 1 running · 199 waiting · 0 failed" in shown


def test_plain_output_is_one_line_per_event_and_verbose_adds_the_messages():
    con = console(terminal=False)
    progress = ApplyProgress(con, STEPS, live=False, verbose=False)
    feed(progress)
    out = con.file.getvalue().splitlines()
    assert out == [
        "= project.scaffold up to date",
        "… git.commit commit the project",
        "✓ git.commit done in 0.2s",
        "… run.baseline run the project notebook",
        "… run.split-70 run the project notebook",
        "✗ run.split-70 run split-70 failed: boom",
    ]
    con = console(terminal=False)
    feed(ApplyProgress(con, STEPS, live=False, verbose=True))
    assert "    run.baseline: run page: https://example/run/1" in con.file.getvalue()


def test_markup_in_messages_is_printed_as_is():
    con = console(terminal=False)
    progress = ApplyProgress(con, ["run.x"], live=False, verbose=True)
    progress(Event(LOG, "run.x", "[red]not markup[/red]"))
    progress(Event(FAILED_EVT, "run.x", "[/x] failed"))
    out = con.file.getvalue()
    assert "[red]not markup[/red]" in out and "[/x] failed" in out


def test_the_live_display_only_on_a_terminal_and_not_when_plain():
    assert use_live_display(console(terminal=True), plain=False)
    assert not use_live_display(console(terminal=True), plain=True)
    assert not use_live_display(console(terminal=False), plain=False)


def test_a_live_apply_display_starts_and_stops_cleanly():
    con = console(terminal=True)
    with ApplyProgress(con, STEPS, live=True, verbose=True) as progress:
        feed(progress)
    out = con.file.getvalue()
    assert "run.split-70" in out and "1 failed" in out
    assert "run.baseline: run page" in out  # -v lines printed above the table
