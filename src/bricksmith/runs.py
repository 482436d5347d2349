"""Runs side by side: the params that differ between them, their metrics, duration and status.

Pure data from ``Workflow.status()`` and the project params; ``rich_table`` renders it for the
terminal, ``bricksmith.report`` as an HTML page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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

    @property
    def errors(self) -> bool:
        return any(run.error for run in self.runs)

    def shared_note(self) -> str:
        """What the runs have in common, for under the table ('' when every param varies)."""
        if self.shared_params:
            pairs = ", ".join(f"{k}={format_value(v)}" for k, v in self.shared_params.items())
            return f"All runs share: {pairs}"
        if not self.varying_params:
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
    numeric = tuple(n for n in names if any(row.number(n) is not None for row in rows))
    return Comparison(
        target=str(status.get("target", "")),
        runs=rows,
        varying_params=tuple(varying),
        shared_params=shared,
        metric_names=names,
        numeric_metrics=numeric,
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


def rich_table(comparison: Comparison, *, title: str = "Runs"):
    """A rich Table of the comparison (cells are plain Text: no markup is interpreted)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, caption=comparison.shared_note() or None)
    cols = columns(comparison)
    for column in cols:
        numeric = column.kind in ("metric", "duration")
        header = Text(column.name)
        if column.kind in ("param", "metric"):
            header = Text.assemble((f"{column.kind}\n", "dim"), column.name)
        table.add_column(
            header,
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=column.kind in ("status", "metric", "duration", "finished"),
        )
    for run in comparison.runs:
        row = []
        for column in cols:
            style = STATUS_STYLES.get(run.status, "") if column.kind == "status" else ""
            row.append(Text(cell(run, column), style=style))
        table.add_row(*row)
    return table
