"""Small in-memory steps for engine and planner tests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bricksmith.plan.graph import StepGraph
from bricksmith.plan.graph import graph_of as build_graph_of
from bricksmith.steps.base import Step, StepContext


class FakeStep(Step):
    """Records its applications; can fail, sleep, or report drift on demand."""

    def __init__(self, key, deps=(), value=1, *, fail=False, sleep=0.0, drift=None, log=None):
        self.key, self.deps, self.value = key, tuple(deps), value
        self.fail, self.sleep, self.drift = fail, sleep, drift or []
        self.applied = 0
        self.log = log if log is not None else []
        self._lock = threading.Lock()

    def inputs(self):
        return {"value": self.value}

    def check(self, ctx, outputs):
        return list(self.drift)

    def apply(self, ctx, upstream):
        with self._lock:
            self.applied += 1
        self.log.append(("start", self.key, time.monotonic()))
        time.sleep(self.sleep)
        self.log.append(("end", self.key, time.monotonic()))
        if self.fail:
            raise RuntimeError(f"{self.key} exploded")
        return {"value": self.value, "upstream": sorted(upstream)}


def graph_of(*steps: Step) -> StepGraph:
    return build_graph_of(list(steps))


def context_factory(root: Path):
    def make(step, previous, fingerprint):
        return StepContext(spec=None, target="t", backend=None, root=root, previous=previous,
                           fingerprint=fingerprint)

    return make
