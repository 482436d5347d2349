"""Earlier executions of the runs, and the guide's "compare": what changed and what it did.

Pure data from ``Workflow.run_history()`` (dicts: run, execution, status, finished_at,
params, effective_params, metrics, commit, duration_s, log, error). ``before_after`` pairs
each run's latest succeeded execution with the one before it: the params that changed
(``train_fraction 0.8 → 0.7``) and every metric old and new. ``rich_history`` renders the
executions for the terminal; ``bricksmith.report`` renders the pairs as HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bricksmith.run_params import dotted, leaves
from bricksmith.runs import (
    MISSING,
    STATUS_STYLES,
    first_line,
    format_duration,
    format_time,
    format_value,
    is_number,
    shorten_middle,
)


@dataclass(frozen=True)
class Change:
    """One run's latest succeeded execution (``after``) against the one before it."""

    run: str
    before: int  # execution numbers
    after: int
    params: tuple[tuple[str, Any, Any], ...]  # (dotted key, old, new): only those that changed
    metrics: tuple[tuple[str, Any, Any], ...]  # (name, old, new): every metric either has
    commits: tuple[str | None, str | None] = (None, None)

    def describe(self) -> str:
        """``train_fraction 0.8 → 0.7`` (``no parameter changed`` when none did)."""
        if not self.params:
            return "no parameter changed"
        return ", ".join(f"{key} {_shown(old)} → {_shown(new)}" for key, old, new in self.params)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run, "before": self.before, "after": self.after,
            "params": [{"key": k, "before": o, "after": n} for k, o, n in self.params],
            "metrics": [{"name": k, "before": o, "after": n} for k, o, n in self.metrics],
        }


_ABSENT = object()


def _shown(value: Any) -> str:
    return "unset" if value is _ABSENT else format_value(value)


def flat_params(execution: Mapping[str, Any]) -> dict[str, Any]:
    """An execution's params as dotted keys: the effective ones when Kedro reported them."""
    params = execution.get("effective_params")
    if not isinstance(params, dict):
        params = execution.get("params") if isinstance(execution.get("params"), dict) else {}
    return {dotted(path): value for path, value in leaves(params)}


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def before_after(history: Sequence[Mapping[str, Any]]) -> list[Change]:
    """For every run with two succeeded executions: its latest against the one before, in
    the order the runs first appear."""
    by_run: dict[str, list[Mapping[str, Any]]] = {}
    for execution in history:
        if execution.get("status") == "succeeded":
            by_run.setdefault(str(execution.get("run")), []).append(execution)
    out = []
    for run, done in by_run.items():
        if len(done) < 2:
            continue
        old, new = done[-2], done[-1]
        was, now = flat_params(old), flat_params(new)
        params = tuple(
            (key, was.get(key, _ABSENT), now.get(key, _ABSENT))
            for key in dict.fromkeys([*was, *now])
            if _key(was.get(key, _ABSENT)) != _key(now.get(key, _ABSENT))
        )
        old_m, new_m = old.get("metrics") or {}, new.get("metrics") or {}
        metrics = tuple((name, old_m.get(name, _ABSENT), new_m.get(name, _ABSENT))
                        for name in dict.fromkeys([*old_m, *new_m]))
        out.append(Change(run, int(old.get("execution", 0)), int(new.get("execution", 0)),
                          params, metrics, (old.get("commit"), new.get("commit"))))
    return out


def metric_text(value: Any) -> str:
    return MISSING if value is _ABSENT else format_value(value)


def delta(old: Any, new: Any) -> str:
    """``+0.033`` (new minus old, rounded) when both are numbers, else ''."""
    if old is _ABSENT or new is _ABSENT or not (is_number(old) and is_number(new)):
        return ""
    diff = new - old
    return "±0" if diff == 0 else f"{diff:+.3g}"


def latest(history: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """{run: its latest execution}."""
    return {str(e.get("run")): e for e in history}


def rich_history(history: Sequence[Mapping[str, Any]], *, title: str = "Run history",
                 name_width: int = 40):
    """A rich Table of executions, oldest first: run, #, status, finished, duration, commit,
    the params that vary between them and every metric (a param that is also a metric is
    shown once, in the metric column, marked ``=param``)."""
    from rich.table import Table
    from rich.text import Text

    from bricksmith.runs import compact_number

    flats = [flat_params(e) for e in history]
    keys = dict.fromkeys(k for flat in flats for k in flat)
    varying = [k for k in keys if len({_key(f.get(k, _ABSENT)) for f in flats}) > 1]
    metrics = list(dict.fromkeys(m for e in history for m in (e.get("metrics") or {})))
    varying = [k for k in varying if k not in metrics]
    table = Table(title=title)
    table.add_column("run", no_wrap=True, min_width=min(name_width, max(
        [len(str(e.get("run"))) for e in history] + [3])))
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for key in varying:
        table.add_column(Text.assemble(("param\n", "dim"), key), no_wrap=True)
    for name in metrics:
        mark = "metric=param\n" if name in keys else "metric\n"
        table.add_column(Text.assemble((mark, "dim"), name), justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("finished", no_wrap=True)
    table.add_column("commit", no_wrap=True)
    if any(e.get("error") for e in history):
        table.add_column("error", overflow="ellipsis", no_wrap=True, ratio=1)
    for execution, flat in zip(history, flats, strict=True):
        status = str(execution.get("status"))
        found = execution.get("metrics") or {}
        row = [
            Text(shorten_middle(str(execution.get("run")), name_width)),
            Text(str(execution.get("execution", ""))),
            Text(status, style=STATUS_STYLES.get(status, "")),
            *(Text(format_value(flat[k]) if k in flat else MISSING) for k in varying),
            *(Text(compact_number(found[m]) if m in found else MISSING) for m in metrics),
            Text(format_duration(execution.get("duration_s"))),
            Text(format_time(execution.get("finished_at"))),
            Text(str(execution.get("commit") or MISSING)[:8]),
        ]
        if any(e.get("error") for e in history):
            row.append(Text(first_line(execution.get("error"))))
        table.add_row(*row)
    return table
