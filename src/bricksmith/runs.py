"""Runs side by side: the params that differ between them, their metrics, duration and status.

Pure data from ``Workflow.status()`` and the project params; ``rich_table`` renders it for the
terminal, ``bricksmith.report`` as an HTML page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bricksmith.run_params import deep_merge, dotted, leaves

MISSING = "-"


@dataclass(frozen=True)
class RunRow:
    """One run: its differing params (a key absent when unset), metrics ({} when none)."""

    name: str
    status: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any]
    duration_s: float | None = None
    finished_at: str | None = None
    error: str | None = None
    run_page_url: str | None = None
    warnings: tuple[str, ...] = ()  # what Kedro warned about during the run

    def number(self, metric: str) -> float | None:
        """The metric as a finite number, or None (absent, text, bool, NaN)."""
        value = self.metrics.get(metric)
        return value if is_number(value) else None


@dataclass(frozen=True)
class Comparison:
    target: str
    runs: tuple[RunRow, ...]
    varying_params: tuple[str, ...]  # the params columns: keys whose values differ
    shared_params: Mapping[str, Any] = field(default_factory=dict)  # same value in every run
    metric_names: tuple[str, ...] = ()  # every metric any run recorded, first seen first
    numeric_metrics: tuple[str, ...] = ()  # those with a number somewhere: one chart each
    also_params: tuple[str, ...] = ()  # metrics that are params too (shown once, marked)

    @property
    def errors(self) -> bool:
        return any(run.error for run in self.runs)

    def shared_note(self) -> str:
        """What the runs have in common, for under the table ('' when every param varies)."""
        if self.shared_params:
            pairs = ", ".join(f"{k}={format_value(v)}" for k, v in self.shared_params.items())
            return f"All runs share: {pairs}"
        if not self.varying_params and not self.also_params:
            return "No parameters set."
        return ""


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): what a chart can draw."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _canonical(value: Any) -> str:
    """A comparison key: 1, 1.0 and True differ; dicts compare whatever their key order."""
    return json.dumps(value, sort_keys=True, default=repr)


def _first_seen(keys: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(key for group in keys for key in group))


def compare_runs(status: Mapping[str, Any], project_params: Mapping[str, Any]) -> Comparison:
    """Turn ``Workflow.status()`` and the project params into a :class:`Comparison`. A run's
    ``effective_params`` (what Kedro ran it with) win over ``project_params`` deep-merged with
    its own ``params``. Nested keys are dotted (``model.lr``)."""
    runs = status.get("runs") or []
    effective = [  # nested keys dotted: one column per value a run sets (model.lr)
        {
            dotted(path): value
            for path, value in leaves(
                run.get("effective_params")
                or deep_merge(project_params, run.get("params") or {})
            )
        }
        for run in runs
    ]
    keys = _first_seen(effective)
    varying, shared = [], {}
    for key in keys:
        values = {_canonical(p[key]) if key in p else None for p in effective}  # None: unset
        if len(values) > 1:
            varying.append(key)
        else:
            shared[key] = effective[0][key]
    rows = tuple(
        RunRow(
            name=str(run.get("name", "")),
            status=str(run.get("status") or "pending"),
            params={k: params[k] for k in varying if k in params},
            metrics=dict(run.get("metrics") or {}),
            duration_s=run.get("duration_s"),
            finished_at=run.get("finished_at"),
            error=run.get("error"),
            run_page_url=run.get("run_page_url"),
            warnings=tuple(str(w) for w in run.get("warnings") or ()),
        )
        for run, params in zip(runs, effective, strict=True)
    )
    names = _first_seen(row.metrics for row in rows)
    # a param that is also a metric is shown once: in the metric column, marked
    both = tuple(key for key in names if key in keys)
    varying = [key for key in varying if key not in both]
    shared = {key: value for key, value in shared.items() if key not in both}
    rows = tuple(
        RunRow(**{**row.__dict__, "params": {k: v for k, v in row.params.items()
                                             if k not in both}})
        for row in rows
    )
    numeric = tuple(n for n in names if any(row.number(n) is not None for row in rows))
    return Comparison(
        target=str(status.get("target", "")),
        runs=rows,
        varying_params=tuple(varying),
        shared_params=shared,
        metric_names=names,
        numeric_metrics=numeric,
        also_params=both,
    )


# -- formatting shared by the terminal table and the HTML page ---------------------------------


def format_value(value: Any) -> str:
    """A param or metric value as text: strings as they are, the rest as compact JSON. A string
    that would read as something else (``"007"``, ``"yes"``, ``"null"``, ``""``, padded or
    multi-line text) is shown JSON-quoted, so it is not taken for a number, a bool or nothing."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if _reads_otherwise(value) else value
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return json.dumps(value, sort_keys=True, default=str)


def _reads_otherwise(text: str) -> bool:
    if text != text.strip() or not text or "\n" in text or text.startswith('"'):
        return True
    import yaml

    try:
        return yaml.safe_load(text) != text
    except yaml.YAMLError:
        return False


def compact_number(value: Any, digits: int = 4) -> str:
    """A metric for a narrow column: a number rounded (never cut) to ``digits`` significant
    digits (0.96666 → 0.967 with 3), anything else as :func:`format_value` shows it."""
    if is_number(value) and isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else \
            f"{value:.{max(digits - 1, 1)}e}"
    return format_value(value)


def shorten_middle(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters: both ends kept, the middle replaced by …
    (a run or step is told apart by its start and its end)."""
    if len(name) <= width or width < 5:
        return name
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return f"{name[:head]}…{name[len(name) - tail:]}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_time(timestamp: str | None) -> str:
    """An ISO timestamp from the state, a little easier to read."""
    if not timestamp:
        return MISSING
    return timestamp.replace("T", " ").replace("+00:00", " UTC")


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


@dataclass(frozen=True)
class Column:
    kind: str  # run, status, param, metric, duration, finished, error, page
    name: str


def columns(comparison: Comparison) -> tuple[Column, ...]:
    """The table's columns, in order; the error and run page columns only when a run has one."""
    return (
        Column("run", "run"),
        Column("status", "status"),
        *(Column("param", key) for key in comparison.varying_params),
        *(Column("metric", name) for name in comparison.metric_names),
        Column("duration", "duration"),
        Column("finished", "finished"),
        *([Column("error", "error")] if comparison.errors else []),
        *([Column("page", "run page")] if any(r.run_page_url for r in comparison.runs) else []),
    )


def cell(run: RunRow, column: Column) -> str:
    """The text of one cell; '-' for a value the run does not have."""
    if column.kind == "run":
        return run.name
    if column.kind == "status":
        return run.status
    if column.kind in ("param", "metric"):
        values = run.params if column.kind == "param" else run.metrics
        return format_value(values[column.name]) if column.name in values else MISSING
    if column.kind == "duration":
        return format_duration(run.duration_s)
    if column.kind == "finished":
        return format_time(run.finished_at)
    if column.kind == "page":
        return run.run_page_url or MISSING
    return first_line(run.error)


STATUS_STYLES = {"succeeded": "green", "failed": "red", "running": "yellow", "pending": "dim"}


NAME_WIDTH = 40  # the most a run name takes in the terminal; longer ones lose their middle


def rich_table(comparison: Comparison, *, title: str = "Runs", width: int | None = None):
    """The comparison for a terminal of ``width`` columns (see :func:`fit`): run names are
    never cut (one longer than the room loses its middle), numbers are rounded (3
    significant digits under 100 columns, else 4), never cut."""
    narrow = width is not None and width < 100
    digits, name_width = (3, 30) if narrow else (4, NAME_WIDTH)
    cols = columns(comparison)
    texts = [[_terminal_cell(run, column, digits, name_width) for column in cols]
             for run in comparison.runs]
    heads = [(*_header(comparison, column), column.kind) for column in cols]
    return fit(title, heads, texts, [run.status for run in comparison.runs], width=width,
               caption=comparison.shared_note() or None)


FIXED = ("run", "status", "metric", "duration", "number")  # never wrapped, never cut
NUMERIC = ("metric", "duration", "number")


def fit(title: str, heads: Sequence[tuple[str, str, str]], rows: Sequence[Sequence[str]],
        statuses: Sequence[str], *, width: int | None, caption: str | None = None):
    """A rich renderable of ``rows`` under ``heads`` ((mark, name, kind) each: kind in
    run, status, param, metric, duration, number, finished, error, page...) for ``width``
    columns: one table when the names and numbers fit side by side, the other columns
    wrapping and the error giving way first (one line, …); else one small table per row (a
    key per line), so that nothing is ever cut."""
    from rich.table import Table
    from rich.text import Text

    fixed = [kind in FIXED for _m, _n, kind in heads]
    need = [max([len(row[i]) for row in rows] + [len(heads[i][1]), len(heads[i][0])])
            for i in range(len(heads))]
    room = sum(n + 3 for n, f in zip(need, fixed, strict=True) if f) + 1 + 12 * fixed.count(False)
    if width is not None and room > width:
        return _cards(title, heads, rows, statuses, width, caption)
    # the error takes what the rest leaves, on one line (…): it gives way first
    others = sum(need[i] + 3 for i, (_m, _n, kind) in enumerate(heads) if kind != "error")
    budget = max(12, (width or 10**6) - others - 4)
    table = Table(title=title, caption=caption)
    for index, (mark, name, kind) in enumerate(heads):
        table.add_column(
            Text.assemble((f"{mark}\n", "dim"), name) if mark else Text(name),
            justify="right" if kind in NUMERIC else "left",
            overflow="ellipsis" if kind == "error" else "fold",
            no_wrap=fixed[index],
            min_width=need[index] if fixed[index] else None,
        )
    for status, row in zip(statuses, rows, strict=True):
        table.add_row(*(
            Text(_clip(text, budget) if kind == "error" else text,
                 style=STATUS_STYLES.get(status, "") if kind == "status" else "")
            for text, (_m, _n, kind) in zip(row, heads, strict=True)))
    return table


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _header(comparison: Comparison, column: Column) -> tuple[str, str]:
    if column.kind not in ("param", "metric"):
        return "", column.name
    return ("metric=param" if column.name in comparison.also_params else column.kind,
            column.name)


def _cards(title, heads, rows, statuses, width: int, caption: str | None):
    """One two-column table per row (key, value), for a terminal too narrow for the rows."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list = [Text(title, style="italic", justify="center")]
    keys = max(len(f"{mark} {name}".strip()) for mark, name, _kind in heads)
    for status, row in zip(statuses, rows, strict=True):
        card = Table(show_header=False, title=None, width=min(width, 100))
        card.add_column("key", no_wrap=True, style="dim", min_width=keys)
        card.add_column("value", overflow="fold")
        for (mark, name, kind), text in zip(heads, row, strict=True):
            style = STATUS_STYLES.get(status, "") if kind == "status" else ""
            card.add_row(Text(f"{mark} {name}".strip()), Text(text, style=style))
        parts.append(card)
    if caption:
        parts.append(Text(caption, style="dim"))
    return Group(*parts)


def _terminal_cell(run: RunRow, column: Column, digits: int, name_width: int) -> str:
    if column.kind == "run":
        return shorten_middle(run.name, name_width)
    if column.kind == "metric" and column.name in run.metrics:
        return compact_number(run.metrics[column.name], digits)
    if column.kind == "error":
        return first_line(run.error) or MISSING
    return cell(run, column)


def log_lines(runs: list[Mapping[str, Any]], *, width: int = 80,
              cwd: Path | None = None) -> list[str]:
    """``  NAME  PATH`` for each run with a log (``runs``: ``Workflow.status()["runs"]``):
    the path relative to ``cwd`` when it lies inside it, never cut (a name longer than the
    room left loses its middle instead); names aligned while that fits in ``width``."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    rows = []
    for run in runs:
        log = run.get("log")
        if not log:
            continue
        path = Path(str(log))
        try:
            shown = str(path.resolve().relative_to(cwd.resolve())) if path.is_absolute() \
                else str(path)
        except ValueError:
            shown = str(path)
        rows.append((str(run.get("name")), shown))
    if not rows:
        return []
    names = [shorten_middle(n, max(20, min(40, width - 4 - len(p)))) for n, p in rows]
    name_w = max(len(n) for n in names)
    return [f"  {n.ljust(name_w)}  {p}" for n, (_x, p) in zip(names, rows, strict=True)]
