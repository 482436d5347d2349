"""Draw benchmark results as one PNG of four panels.

Usage (with the tools venv's python, which has matplotlib)::

    python benchmarks/chart.py RESULTS.json OUT.png

RESULTS.json holds any of the sections ``plan`` (rows of tool, n, seconds), ``sync`` and
``emulator_sync`` (rows of case, tool, seconds) and ``e2e`` (rows of label, seconds). Missing or
empty sections draw an empty panel; rows whose seconds is null (a timed-out tool) are skipped.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # 0.1, 1, 10, 1000 rather than 10^k


def _seconds(value: float) -> str:
    return f"{value:.2g} s" if value < 10 else f"{value:.0f} s"


def _rows(results: dict, section: str) -> list[dict]:
    return [r for r in results.get(section) or [] if r.get("seconds") is not None]


def _empty(ax, title: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", color="grey",
            transform=ax.transAxes)
    ax.set_axis_off()


def plan_panel(ax, results: dict) -> None:
    title = "Planning cost vs workflow size"
    points, missing = defaultdict(list), defaultdict(list)
    for r in results.get("plan") or []:
        target = points if r.get("seconds") is not None and r["seconds"] > 0 else missing
        target[r["tool"]].append((r["n"], r.get("seconds")))
    if not points:
        return _empty(ax, title)
    for tool, pts in points.items():
        pts.sort()
        gaps = sorted(n for n, _ in missing.get(tool, []))
        label = tool + (f" (no result at N={', '.join(map(str, gaps))})" if gaps else "")
        ax.plot([n for n, _ in pts], [s for _, s in pts], marker="o", label=label)
    ax.set(xscale="log", yscale="log", title=title, xlabel="N (steps / stages)",
           ylabel="wall time (s), log scale")
    ax.xaxis.set_major_formatter(PLAIN)
    ax.yaxis.set_major_formatter(PLAIN)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def grouped_bars(ax, rows: list[dict], title: str, log: bool = True) -> None:
    """One group of bars per case, one bar colour per tool."""
    rows = [r for r in rows if r["seconds"] > 0 or not log]
    if not rows:
        return _empty(ax, title)
    cases = list(dict.fromkeys(r["case"] for r in rows))
    tools = list(dict.fromkeys(r["tool"] for r in rows))
    value = {(r["case"], r["tool"]): r["seconds"] for r in rows}
    width = min(0.8, 0.25 * len(tools)) / len(tools)
    for j, tool in enumerate(tools):
        xs = [i for i, case in enumerate(cases) if (case, tool) in value]
        ys = [value[cases[i], tool] for i in xs]
        offset = width * (j + 0.5 - len(tools) / 2)
        bars = ax.bar([x + offset for x in xs], ys, width, label=tool)
        ax.bar_label(bars, labels=[_seconds(y) for y in ys], fontsize=8, padding=2)
    ax.set_xticks(range(len(cases)), cases)
    ax.set(title=title, ylabel="wall time (s)" + (", log scale" if log else ""))
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(PLAIN)
    ax.margins(y=0.15)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)


def e2e_panel(ax, rows: list[dict]) -> None:
    title = "End to end"
    if not rows:
        return _empty(ax, title)
    labels = [r["label"] for r in rows]
    secs = [r["seconds"] for r in rows]
    bars = ax.barh(range(len(rows)), secs, color=[f"C{i}" for i in range(len(rows))])
    ax.bar_label(bars, labels=[_seconds(s) for s in secs], fontsize=8, padding=3)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set(title=title, xlabel="wall time (s)")
    ax.margins(x=0.15)
    ax.grid(True, axis="x", alpha=0.3)


def draw(results: dict, out: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    plan_panel(axes[0, 0], results)
    grouped_bars(axes[0, 1], _rows(results, "sync"), "Data sync")
    grouped_bars(axes[1, 0], _rows(results, "emulator_sync"), "Sync to the workspace emulator")
    e2e_panel(axes[1, 1], _rows(results, "e2e"))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/chart.py RESULTS.json OUT.png")
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
