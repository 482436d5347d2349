"""What an apply shows while it works.

On a terminal: a live table of the steps — waiting, running (with a spinner, the time so far and
the step's latest message, such as the environment build or a job run's page), done, skipped,
failed — redrawn a few times a second, and a closing summary. Elsewhere (a pipe, a CI log,
``--no-color`` or ``NO_COLOR``): one plain line per event, nothing redrawn.

A local run's row says where the run is — its notebook cell and its Kedro node (``cell 6/8 ·
node 2/3 make_predictions``), read from the run's own log as it is written
(``bricksmith.run_position``). A Databricks run's row shows what the Jobs API gives: the
life-cycle state, with the run page kept in view once it is known.

``-v`` adds every message a step logs and every line of a run's own log (Kedro's output)
above the table, or as lines of their own: each printed whole, never wrapped or cut by rich at
the terminal's width (the terminal itself folds a long line; copying it gives it whole).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bricksmith.engine.executor import (
    FAILED_EVT,
    LOG,
    NOTE,
    OUTPUT,
    SKIPPED,
    STARTED,
    SUCCEEDED_EVT,
    Event,
)
from bricksmith.run_position import RunPosition

WAITING, RUNNING, DONE, SKIPPED_STATE, FAILED = "waiting", "running", "done", "skipped", "failed"
STYLES = {WAITING: "dim", RUNNING: "cyan", DONE: "green", SKIPPED_STATE: "dim", FAILED: "red"}
MARKS = {WAITING: "·", DONE: "✓", SKIPPED_STATE: "=", FAILED: "✗"}
FULL_TABLE_UP_TO = 30  # steps; a larger apply shows what runs, what failed and the counts
RECENT = 5  # finished steps kept in view in the compact table
NAME_WIDTH = 50  # the most a step name takes; a longer one loses its middle
LIST_SKIPPED_UP_TO = 100  # the plain log lists up-to-date steps one by one up to this size


@dataclass
class _Row:
    state: str = WAITING
    started: float | None = None
    elapsed: float | None = None
    detail: str = ""
    position: RunPosition | None = None  # a local run's cell and node, while it runs
    page: str = ""  # a Databricks run's page, once a message named it


class ApplyProgress:
    """Takes the executor's events (from any thread) and shows them on ``console``."""

    def __init__(self, console, steps: Sequence[str], *, live: bool, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        self.rows = {key: _Row() for key in steps}
        self.order = list(steps)
        self.finished: list[str] = []  # in the order they ended
        self.began = time.monotonic()
        self._lock = threading.Lock()
        self._live = None
        if live:
            from rich.live import Live

            self._live = Live(self, console=console, refresh_per_second=8, transient=False)
        self.list_skipped = verbose or len(steps) <= LIST_SKIPPED_UP_TO

    def __enter__(self) -> ApplyProgress:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()

    # -- events ----------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if event.kind == NOTE:  # shown whatever the verbosity, above a live table
            self.console.print(f"Note: {event.message}", markup=False, highlight=False,
                               soft_wrap=True)
            return
        with self._lock:
            self._record(event)
        if self._live is None:
            self._print_line(event)
        elif event.kind in (LOG, OUTPUT) and self.verbose:
            self._print_message(event)

    def _print_message(self, event: Event) -> None:
        """A step's message or a line of a run's log, whole: not wrapped, not cut."""
        self.console.print(f"    {event.step}: {event.message.rstrip()}", markup=False,
                           highlight=False, soft_wrap=True)

    def _record(self, event: Event) -> None:
        row = self.rows.get(event.step)
        if row is None:  # not a step (the lock, for example)
            return
        now = time.monotonic()
        if event.kind == STARTED:
            row.state, row.started, row.detail = RUNNING, now, event.message
            row.position, row.page = None, ""
        elif event.kind == OUTPUT:
            moved = (row.position or RunPosition()).advanced(event.message)
            if moved is not None:
                row.position = moved
        elif event.kind == LOG:
            row.detail = event.message.splitlines()[0] if event.message else row.detail
            page = _run_page(row.detail)
            if page:
                row.page = page
        elif event.kind in (SUCCEEDED_EVT, SKIPPED, FAILED_EVT):
            row.state = {SUCCEEDED_EVT: DONE, SKIPPED: SKIPPED_STATE, FAILED_EVT: FAILED}[
                event.kind
            ]
            row.elapsed = event.elapsed_s or (now - row.started if row.started else None)
            if event.kind == FAILED_EVT:
                row.detail = event.message.splitlines()[0] if event.message else "failed"
            elif event.kind == SKIPPED:
                row.detail = event.message
            row.position = None
            self.finished.append(event.step)

    def _print_line(self, event: Event) -> None:
        from rich.markup import escape

        if event.kind in (LOG, OUTPUT):
            if self.verbose:
                self._print_message(event)
            return
        if event.kind not in (STARTED, SKIPPED, SUCCEEDED_EVT, FAILED_EVT):
            return
        if event.kind == SKIPPED and not self.list_skipped:
            return
        mark, colour = {
            STARTED: ("…", "cyan"),
            SKIPPED: ("=", "dim"),
            SUCCEEDED_EVT: ("✓", "green"),
            FAILED_EVT: ("✗", "red"),
        }[event.kind]
        text = event.message
        if event.kind == SUCCEEDED_EVT:
            text = f"done in {event.elapsed_s:.1f}s"
        elif event.kind == FAILED_EVT:
            text = event.message.splitlines()[0] if event.message else "failed"
        self.console.print(
            f"[{colour}]{mark} {escape(event.step)}[/] [dim]{escape(text)}[/]", highlight=False
        )

    # -- the live table ---------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((DONE, SKIPPED_STATE, FAILED, RUNNING, WAITING), 0)
        for row in self.rows.values():
            counts[row.state] += 1
        return counts

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def counts_line(self) -> str:
        c = self.counts()
        return (
            f"{c[DONE]} done · {c[SKIPPED_STATE]} up to date · {c[RUNNING]} running · "
            f"{c[WAITING]} waiting · {c[FAILED]} failed · {self.elapsed():.1f}s"
        )

    def shown(self) -> list[str]:
        """The steps in the table: all of a small apply; of a large one what runs or failed,
        the last few to finish and the next few waiting."""
        if len(self.order) <= FULL_TABLE_UP_TO:
            return self.order
        with self._lock:
            active = [k for k in self.order if self.rows[k].state in (RUNNING, FAILED)]
            recent = [k for k in self.finished[-RECENT:] if k not in active]
            waiting = [k for k in self.order if self.rows[k].state == WAITING][:RECENT]
        return recent + active + waiting

    def __rich_console__(self, console, options):
        """The table for ``options.max_width`` columns: step names whole (a name longer
        than NAME_WIDTH loses its middle, never an end), the message column cut first (…)."""
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        from bricksmith.runs import shorten_middle

        now = time.monotonic()
        rows = []
        for key in self.shown():
            row = self.rows[key]
            if row.state == RUNNING:
                elapsed = now - row.started if row.started else 0.0
            else:
                elapsed = row.elapsed
            rows.append((key, row, f"{elapsed:.1f}s" if elapsed is not None else ""))
        most = NAME_WIDTH if options.max_width >= 100 else 40
        names = [shorten_middle(key, most) for key, _row, _t in rows]
        name_w = max([len(n) for n in names] + [1])
        time_w = max([len(t) for _k, _r, t in rows] + [1])
        # 1 (mark) + name + state ("running") + time + 2 spaces between each of 5 columns
        room = options.max_width - (1 + name_w + len(RUNNING) + time_w + 8)
        table = Table(box=None, show_header=False, pad_edge=False, expand=False)
        table.add_column(width=1)
        table.add_column(no_wrap=True, min_width=name_w)
        table.add_column(no_wrap=True, min_width=len(RUNNING))
        table.add_column(justify="right", no_wrap=True, min_width=time_w)
        if room >= 4:
            table.add_column(overflow="ellipsis", no_wrap=True, max_width=min(room, 70))
        for (_key, row, took), name in zip(rows, names, strict=True):
            style = STYLES[row.state]
            mark = Spinner("dots", style=style) if row.state == RUNNING else Text(
                MARKS[row.state], style=style)
            cells = [mark, Text(name, style=style if row.state != RUNNING else "bold"),
                     Text(row.state, style=style), Text(took, style="dim")]
            if room >= 4:
                cells.append(Text(self.detail(row, room), style="dim"))
            table.add_row(*cells)
        yield Group(table, Text(self.counts_line(), style="bold"))

    @staticmethod
    def detail(row: _Row, width: int) -> str:
        """The message column of ``row`` in ``width`` characters: where a running local run
        is (its cell and node), else the step's latest message (a Databricks run's with its
        run page added once it is no longer in the message), cut at the end (…)."""
        where = row.position.describe(width) if row.state == RUNNING and row.position else ""
        if where:
            return where
        detail = row.detail
        if row.state == RUNNING and row.page and row.page not in detail:
            detail = f"{detail} — {row.page}"
        return detail if len(detail) <= width else detail[:width - 1] + "…"


def _run_page(message: str) -> str:
    """The first http(s) address in ``message`` ('' when none): a job run's page."""
    for word in message.split():
        if word.startswith(("https://", "http://")):
            return word.rstrip(").,;")
    return ""


def use_live_display(console, *, plain: bool) -> bool:
    """The live table only on a terminal, and not when plain output was asked for."""
    return console.is_terminal and not plain and not console.is_dumb_terminal
