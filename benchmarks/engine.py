"""Engine overhead per step: 10,000 trivial steps (a binary tree, step i after step i // 2)
applied once (each step checkpointed durably) and again (each step a no-op: fingerprint,
check, "found up to date" written in batches). One step at a time, so the gap between two
consecutive step events is what the engine spends on a step; the median is reported."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bricksmith.engine.executor import SKIPPED, SUCCEEDED_EVT, execute
from bricksmith.engine.state import StateStore
from bricksmith.plan.graph import graph_of
from bricksmith.steps.base import Step, StepContext


class TrivialStep(Step):
    title = "a step with nothing to do"

    def __init__(self, i: int) -> None:
        self.i, self.key = i, f"step[{i:05d}]"
        self.deps = (f"step[{i // 2:05d}]",) if i > 1 else ()

    def inputs(self):
        return {"i": self.i}

    def check(self, ctx, outputs):
        return []

    def apply(self, ctx, upstream):
        return {"i": self.i}


def _context(step, previous, fingerprint):
    return StepContext(spec=None, target="bench", backend=None, root=Path("."),
                       previous=previous, fingerprint=fingerprint)


def _gaps(graph, state, kind: str) -> tuple[float, float]:
    """(median gap between consecutive ``kind`` events, total seconds) of one apply."""
    stamps: list[float] = []
    started = time.perf_counter()
    execute(graph, state, _context, parallelism=1,
            on_event=lambda e: stamps.append(time.perf_counter()) if e.kind == kind else None)
    total = time.perf_counter() - started
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(gaps), total


def engine_overhead(steps: int = 10_000) -> dict:
    graph = graph_of([TrivialStep(i) for i in range(1, steps + 1)])
    result = {"steps": steps}
    with tempfile.TemporaryDirectory() as folder:
        state = StateStore(Path(folder) / "state.db")  # WAL, synchronous=FULL: fsync per commit
        result["run_median_ms"], result["run_total_s"] = _gaps(graph, state, SUCCEEDED_EVT)
        result["noop_median_ms"], result["noop_total_s"] = _gaps(graph, state, SKIPPED)
        state.close()
    with tempfile.TemporaryDirectory() as folder:
        state = StateStore(Path(folder) / "state.db")
        state._db.execute("PRAGMA synchronous=NORMAL")  # for comparison only: not durable
        result["run_median_ms_normal"], _ = _gaps(graph, state, SUCCEEDED_EVT)
        state.close()
    for key in ("run_median_ms", "noop_median_ms", "run_median_ms_normal"):
        result[key] *= 1000
    return result


if __name__ == "__main__":
    print(engine_overhead())
