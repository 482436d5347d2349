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
                 width: int | None = None):
    """The executions, oldest first, for a terminal of ``width`` columns (see
    ``bricksmith.runs.fit``): run, #, status, the params that vary between them, every
    metric (a param that is also a metric is shown once, in the metric column, marked
    ``metric=param``), duration, finished, commit, error."""
    from bricksmith.runs import NAME_WIDTH, compact_number, fit

    narrow = width is not None and width < 100
    digits, name_width = (3, 30) if narrow else (4, NAME_WIDTH)
    flats = [flat_params(e) for e in history]
    keys = dict.fromkeys(k for flat in flats for k in flat)
    metrics = list(dict.fromkeys(m for e in history for m in (e.get("metrics") or {})))
    varying = [k for k in keys if k not in metrics
               and len({_key(f.get(k, _ABSENT)) for f in flats}) > 1]
    errors = any(e.get("error") for e in history)
    heads = [("", "run", "run"), ("", "#", "number"), ("", "status", "status"),
             *(("param", k, "param") for k in varying),
             *(("metric=param" if m in keys else "metric", m, "metric") for m in metrics),
             ("", "duration", "duration"), ("", "finished", "finished"),
             ("", "commit", "commit"), *([("", "error", "error")] if errors else [])]
    rows = []
    for execution, flat in zip(history, flats, strict=True):
        found = execution.get("metrics") or {}
        rows.append([
            shorten_middle(str(execution.get("run")), name_width),
            str(execution.get("execution", "")),
            str(execution.get("status")),
            *(format_value(flat[k]) if k in flat else MISSING for k in varying),
            *(compact_number(found[m], digits) if m in found else MISSING for m in metrics),
            format_duration(execution.get("duration_s")),
            format_time(execution.get("finished_at")),
            str(execution.get("commit") or MISSING)[:8],
            *([first_line(execution.get("error")) or MISSING] if errors else []),
        ])
    return fit(title, heads, rows, [str(e.get("status")) for e in history], width=width)
