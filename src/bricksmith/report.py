"""The runs report: one self-contained HTML page (inline CSS and SVG, no script, nothing fetched).

``render_html`` is deterministic: the same comparison, title and time give the same bytes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import datetime
from html import escape
from pathlib import Path

from bricksmith.atomic import write_text_atomically
from bricksmith.run_history import Change, delta, metric_text
from bricksmith.runs import MISSING, Column, Comparison, RunRow, cell, columns, format_value

# the page may load nothing at all: its only styles are inline, it has no script
CSP = "default-src 'none'; style-src 'unsafe-inline'"
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5")

# chart geometry, in SVG user units
SLOT, BAR, PLOT_H = 72, 40, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 22, 44
LABEL_CHARS = 10

STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #656d76; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); margin: 0 auto; padding: 24px; max-width: 1120px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.meta, .note, .empty { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; min-width: 50%; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; white-space: nowrap; }
th { background: #f6f8fa; font-weight: 600; }
th.group { text-align: center; color: var(--muted); font-weight: 500; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.missing { color: var(--muted); text-align: center; }
td.error { color: #b42318; white-space: normal; max-width: 420px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 6px; vertical-align: baseline; }
.status { padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #eaeef2; }
.status-succeeded { background: #dafbe1; color: #1a7f37; }
.status-failed { background: #ffebe9; color: #cf222e; }
.status-running { background: #fff8c5; color: #9a6700; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr));
          gap: 16px; }
figure { margin: 0; padding: 12px; border: 1px solid var(--line); border-radius: 6px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
caption { text-align: left; padding: 4px 0 8px; }
.change { margin-bottom: 16px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg.chart .tick text, svg.chart .no-value { fill: var(--muted); }
svg.chart .grid { stroke: #eaeef2; }
svg.chart .axis { stroke: #8c959f; }
"""


def render_html(comparison: Comparison, *, title: str, generated_at: str | datetime,
                changes: Sequence[Change] = ()) -> str:
    """The whole report page: heading, runs table, the before/after of each run that ran
    again (``changes``, from ``bricksmith.run_history.before_after``; the section only when
    there is one), one bar chart per numeric metric."""
    if isinstance(generated_at, datetime):
        generated_at = generated_at.isoformat(timespec="seconds")
    count = len(comparison.runs)
    meta = (
        f"target <b>{escape(comparison.target)}</b> · {count} run{'s' * (count != 1)}"
        f" · generated {escape(generated_at)}"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)} — runs</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f'<header><h1>{escape(title)}</h1><p class="meta">{meta}</p></header>',
            '<section id="runs"><h2>Runs</h2>',
            _table(comparison),
            "</section>",
            *([f'<section id="changes"><h2>Before / after</h2>{_changes(changes)}</section>']
              if changes else []),
            '<section id="metrics"><h2>Metrics</h2>',
            _charts(comparison),
            "</section>",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_report(path: str | os.PathLike, html: str) -> Path:
    """Write ``html`` to ``path`` atomically (a temporary file beside it, then renamed)."""
    return write_text_atomically(path, html, create_folder=True)


# -- the table ---------------------------------------------------------------------------------


def _table(comparison: Comparison) -> str:
    if not comparison.runs:
        return '<p class="empty">This workflow has no runs.</p>'
    cols = [c for c in columns(comparison) if c.kind != "page"]  # the run name links it
    grouped = [c for c in cols if c.kind in ("param", "metric")]
    top, names = [], []
    for column in cols:
        if column.kind in ("param", "metric"):
            span = sum(c.kind == column.kind for c in cols)
            if column is next(c for c in cols if c.kind == column.kind):
                label = "params" if column.kind == "param" else "metrics"
                top.append(f'<th class="group" colspan="{span}">{label}</th>')
            names.append(f"<th>{escape(column.name)}</th>")
        else:
            rowspan = ' rowspan="2"' if grouped else ""
            top.append(f"<th{rowspan}>{escape(column.name)}</th>")
    head = "<tr>" + "".join(top) + "</tr>" + ("<tr>" + "".join(names) + "</tr>" if grouped else "")
    body = []
    for index, run in enumerate(comparison.runs):
        body.append("<tr>" + "".join(_td(index, run, column) for column in cols) + "</tr>")
    note = comparison.shared_note()
    warned = "".join(
        f'<p class="note">warning in run {escape(run.name)}: {escape(warning)}</p>'
        for run in comparison.runs
        for warning in run.warnings
    )
    return (
        f'<div class="table-wrap"><table><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
        + (f'<p class="note">{escape(note)}</p>' if note else "")
        + warned
    )


def _td(index: int, run: RunRow, column: Column) -> str:
    text = cell(run, column)
    if column.kind == "run":
        swatch = f'<span class="swatch" style="background:{_colour(index)}"></span>'
        name = escape(text)
        url = run.run_page_url or ""
        if url.startswith(("https://", "http://")):  # a link to follow, never loaded
            name = f'<a href="{escape(url)}" rel="noreferrer">{name}</a>'
        return f"<td>{swatch}{name}</td>"
    if column.kind == "status":
        kind = text if text in ("succeeded", "failed", "running") else "other"
        return f'<td><span class="status status-{kind}">{escape(text)}</span></td>'
    if text == MISSING:
        return f'<td class="missing">{MISSING}</td>'
    if column.kind == "error":
        return f'<td class="error" title="{escape(run.error or "")}">{escape(text)}</td>'
    if column.kind == "metric" and run.number(column.name) is not None:
        full = escape(repr(run.metrics[column.name]))
        return f'<td class="num" title="{full}">{escape(text)}</td>'
    klass = ' class="num"' if column.kind == "duration" else ""
    return f"<td{klass}>{escape(text)}</td>"


def _changes(changes: Sequence[Change]) -> str:
    """One table per run that ran again: each metric before and after, with the change of
    params that caused it in its caption."""
    parts = []
    for change in changes:
        rows = "".join(
            f'<tr data-metric="{escape(name)}"><td>{escape(name)}</td>'
            f'<td class="num before">{escape(metric_text(old))}</td>'
            f'<td class="num after">{escape(metric_text(new))}</td>'
            f'<td class="num delta">{escape(delta(old, new))}</td></tr>'
            for name, old, new in change.metrics
        )
        parts.append(
            f'<div class="table-wrap change" data-run="{escape(change.run)}"><table>'
            f"<caption>run <b>{escape(change.run)}</b>, execution {change.before} → "
            f'{change.after}: <span class="cause">{escape(change.describe())}</span></caption>'
            "<thead><tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></div>"
        )
    return "".join(parts)


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


# -- the charts --------------------------------------------------------------------------------


def _charts(comparison: Comparison) -> str:
    if not comparison.numeric_metrics:
        return '<p class="empty">No numeric metrics recorded yet.</p>'
    figures = [
        f"<figure><figcaption>{escape(metric)}</figcaption>{bar_chart(comparison, metric)}</figure>"
        for metric in comparison.numeric_metrics
    ]
    return '<div class="charts">' + "".join(figures) + "</div>"


def _n(value: float) -> str:
    """An SVG coordinate: two decimals at most, no trailing zeros (stable text)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [k * step for k in range(first, last + 1)]


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:,.{decimals}f}"


def bar_chart(comparison: Comparison, metric: str) -> str:
    """An SVG bar chart of ``metric``: a slot per run, a bar where the run has a number."""
    runs = comparison.runs
    values = [run.number(metric) for run in runs]
    present = [v for v in values if v is not None]
    ticks = nice_ticks(min(0.0, *present), max(0.0, *present))
    low, high = ticks[0], ticks[-1]
    width = LEFT + SLOT * max(len(runs), 3) + RIGHT
    height = TOP + PLOT_H + BOTTOM

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * PLOT_H

    parts = [
        f'<svg class="chart" data-metric="{escape(metric)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(metric)} by run">'
    ]
    step = ticks[1] - ticks[0]
    for tick in ticks:
        ty = _n(y(tick))
        parts.append(
            f'<g class="tick"><line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{ty}" '
            f'y2="{ty}"/><text x="{LEFT - 6}" y="{ty}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_tick_label(tick, step))}</text></g>'
        )
    zero = y(0.0)
    for index, (run, value) in enumerate(zip(runs, values, strict=True)):
        centre = LEFT + SLOT * index + SLOT / 2
        label = run.name if len(run.name) <= LABEL_CHARS else run.name[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text class="run-label" x="{_n(centre)}" y="{_n(TOP + PLOT_H + 30)}" '
            f'text-anchor="middle"><title>{escape(run.name)}</title>{escape(label)}</text>'
        )
        if value is None:
            parts.append(
                f'<text class="no-value" x="{_n(centre)}" y="{_n(zero - 6)}" '
                f'text-anchor="middle">{MISSING}</text>'
            )
            continue
        top, bottom = sorted((y(value), zero))
        bar_height = max(bottom - top, 1.0)  # a zero still shows as a hairline
        label_y = top - 6 if value >= 0 else bottom + 14
        parts.append(
            f'<rect class="bar" data-run="{escape(run.name)}" data-value="{value!r}" '
            f'x="{_n(centre - BAR / 2)}" y="{_n(top)}" width="{BAR}" height="{_n(bar_height)}" '
            f'fill="{_colour(index)}"><title>{escape(run.name)}: {escape(format_value(value))}'
            f'</title></rect><text class="value" x="{_n(centre)}" y="{_n(label_y)}" '
            f'text-anchor="middle">{escape(format_value(value))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{width - RIGHT}" y1="{_n(zero)}" y2="{_n(zero)}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + PLOT_H}"/></svg>'
    )
    return "".join(parts)
