"""The executor: runs a graph of steps in dependency order, independent steps in parallel.

For each step, once every step it depends on has finished, it recomputes the fingerprint
from the step's inputs and the upstream outputs of *this* apply. A step whose saved record
succeeded with the same fingerprint, and whose outputs ``check()`` still finds, is skipped;
anything else runs. Every result is committed to the state store the moment the step ends
(a durable, fsync'ed transaction); skipped steps change nothing, so the time they were found
up to date is written in batches.

Failure policy: on the first failure no new step starts, running steps finish, and the apply
ends with :class:`ApplyFailed` naming what failed and how to resume. A state that cannot be
read or written (damaged, full disk, read-only, locked) is not a step's failure: no new step
starts, running steps finish (their own writes fail as fast), and the apply ends with that
:class:`StateError`. A worker never dies with an exception, so the apply never waits for a
result that cannot come.
"""

from __future__ import annotations

import contextlib
import heapq
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bricksmith.engine.state import StateStore
from bricksmith.errors import ApplyFailed, BricksmithError, StateError, StepError
from bricksmith.fingerprints import fingerprint, material
from bricksmith.plan.graph import StepGraph
from bricksmith.statuses import SUCCEEDED
from bricksmith.steps.base import Outputs, Step, StepContext

CHECKED_BATCH = 500  # skipped steps per "found up to date" write
WAKE_S = 0.25  # the longest the main thread waits without looking for a signal (Ctrl-C)

# Event kinds sent to the ``on_event`` callback. OUTPUT: a line of a run's own log (Kedro's
# output, the notebook's cell banners), shown with -v and read for the run's position.
STARTED, SKIPPED, LOG, OUTPUT = "started", "skipped", "log", "output"
NOTE = "note"  # what the user must see even without -v (what apply discards, and where)
SUCCEEDED_EVT, FAILED_EVT = "succeeded", "failed"


@dataclass(frozen=True)
class Event:
    kind: str
    step: str
    message: str = ""
    elapsed_s: float = 0.0


@dataclass
class StepFailure:
    step: str
    error: str
    hint: str | None = None
    log_tail: str | None = None


@dataclass
class ApplyReport:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[StepFailure] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    outputs: dict[str, Outputs] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # records of steps the spec dropped
    left_out: list[str] = field(default_factory=list)  # steps an --only left alone


class _Workers:
    """``slots`` daemon threads taking steps from a queue and reporting on another. A worker
    whose step timed out is abandoned (it exits if that step ever returns) and replaced, so a
    stuck step never holds the apply or a slot."""

    def __init__(self, slots: int, run: Callable[[tuple], tuple]) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.abandoned: set[str] = set()
        self._run = run
        self._started = 0
        for _ in range(slots):
            self._start()

    def _start(self) -> None:
        self._started += 1
        threading.Thread(target=self._work, name="bricksmith step", daemon=True).start()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            key = job[0].key
            try:
                outcome = self._run(job)
            except BaseException as exc:  # noqa: BLE001 - the apply waits for every result
                outcome = ("state", exc if isinstance(exc, StateError) else StateError(
                    f"step {key} stopped: {type(exc).__name__}: {exc}"))
            self.results.put((key, *outcome))
            if key in self.abandoned:
                return

    def abandon(self, key: str) -> None:
        self.abandoned.add(key)
        self._start()

    def stop(self) -> None:
        """Let every idle worker end (an abandoned one ends when its step returns)."""
        for _ in range(self._started):
            self.jobs.put(None)


def execute(
    graph: StepGraph,
    state: StateStore,
    make_context: Callable[[Step, Outputs, str], StepContext],
    *,
    parallelism: int = 4,
    on_event: Callable[[Event], None] = lambda event: None,
    only: frozenset[str] | None = None,
    on_interrupt: Callable[[], None] | None = None,
    replace: frozenset[str] = frozenset(),
) -> ApplyReport:
    """Apply every step of ``graph``. Raises ApplyFailed on failure, StateError when the state
    cannot be read or written, KeyboardInterrupt on Ctrl-C.

    Ctrl-C (SIGINT, in the main thread) starts no new step, calls ``on_interrupt`` (the
    backend stops the processes it started in their own sessions, which the terminal's
    signal does not reach) and leaves every running step recorded as running: interrupted,
    resumed by the next apply; a step whose child process died of the same signal is not
    recorded as failed.

    ``only``: the steps a reviewed (saved) plan changes; any other step that succeeded before
    is taken as it is, without checking it again. ``replace``: steps run even when up to date
    (``--replace``); what depends on them runs only if their outputs change, as always.
    To apply part of the workflow (``--only``), pass ``graph.subgraph(...)``.

    Steps run on ``parallelism`` worker threads; ready steps start in the graph's order. A
    step that outlives its ``timeout_s`` is recorded as failed and abandoned (its thread
    cannot hold the apply).
    """
    report = ApplyReport()
    records = state.all()
    position = {key: i for i, key in enumerate(graph.order)}
    waiting = {key: len(deps) for key, deps in graph.deps.items()}  # unfinished deps
    ready = [position[key] for key, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    started: set[str] = set()
    checked: list[str] = []  # skipped steps not yet recorded as checked
    running: dict[str, float] = {}  # key -> deadline (monotonic)
    slots = max(1, parallelism)
    interrupted = threading.Event()
    workers = _Workers(slots, lambda job: _run_one(*job, interrupted=interrupted))
    broken: list[StateError] = []  # the state cannot be read or written: stop

    try:
        while ready or running:
            while ready and len(running) < slots and not report.failures and not broken:
                key = graph.order[heapq.heappop(ready)]
                started.add(key)
                step = graph.step(key)
                upstream = {d: report.outputs[d] for d in graph.deps[key]}
                running[key] = time.monotonic() + step.timeout_s
                trusted = only is not None and key not in only
                workers.jobs.put((step, upstream, records.get(key), state, make_context,
                                  on_event, trusted, key in replace))
            if not running:
                break
            try:
                key, outcome, payload = workers.results.get(  # in slices: a Ctrl-C that
                    timeout=min(WAKE_S, _until(min(running.values())))  # lands in a worker
                )  # thread is seen by this one within WAKE_S
            except queue.Empty:
                for key in [k for k, deadline in running.items() if deadline <= time.monotonic()]:
                    step = graph.step(key)
                    del running[key]
                    workers.abandon(key)
                    failure = StepFailure(
                        key,
                        f"timed out after {step.timeout_s:g}s",
                        hint="look at what it waits on (network, remote run); "
                        "apply again to resume",
                    )
                    try:
                        state.mark_failed(key, failure.error)
                    except StateError as exc:
                        broken.append(exc)
                    on_event(Event(FAILED_EVT, key, failure.error, step.timeout_s))
                    report.failures.append(failure)
                continue
            if key not in running:  # a step that already timed out finished after all
                continue
            del running[key]
            if outcome == "state":
                broken.append(payload)
                on_event(Event(FAILED_EVT, key, payload.message, 0.0))
                continue
            if outcome == "failed":
                report.failures.append(payload)
                continue
            report.outputs[key] = payload
            if outcome == "skipped":
                report.skipped.append(key)
                checked.append(key)
                if len(checked) >= CHECKED_BATCH:
                    batch, checked = checked, []
                    state.mark_checked(batch)
            else:
                report.ran.append(key)
            for after in graph.dependents[key]:
                waiting[after] -= 1
                if waiting[after] == 0:
                    heapq.heappush(ready, position[after])
    except KeyboardInterrupt:
        interrupted.set()
        if on_interrupt is not None:
            with contextlib.suppress(Exception):
                on_interrupt()
        raise
    finally:
        workers.stop()
        if checked:
            try:
                state.mark_checked(checked)
            except StateError as exc:  # an optimisation's record: never hides the first error
                broken.append(exc)
    report.not_started = [key for key in graph.order if key not in started]
    if broken:
        raise broken[0]
    if report.failures:
        raise ApplyFailed(_failure_message(report), hint=_resume_hint(report), report=report)
    return report


def _until(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _run_one(step, upstream, record, state, make_context, on_event, trusted=False,
             forced=False, *, interrupted: threading.Event | None = None):
    """Decide whether ``step`` is up to date; if not, apply it. Never raises. ``trusted``: a
    reviewed plan leaves the step as it is (when it succeeded before); ``forced``: it runs
    even when up to date (a new execution, ``--replace``)."""
    key = step.key
    started = time.monotonic()
    if trusted and record and record.status == SUCCEEDED:
        on_event(Event(SKIPPED, key, "unchanged in the plan"))
        return "skipped", record.outputs
    try:
        snapshot = material(step.inputs(), upstream)
        fp = fingerprint(snapshot)
        previous = record.outputs.copy() if record else {}
        ctx = make_context(step, previous, fp)
        if record and record.status == SUCCEEDED and record.fingerprint == fp and not forced:
            drift = step.check(ctx, record.outputs)
            if not drift:
                on_event(Event(SKIPPED, key, "up to date"))
                return "skipped", record.outputs
        state.mark_running(key, fp, snapshot)
        on_event(Event(STARTED, key, step.title))
        if forced:
            on_event(Event(LOG, key, "replaced on request: runs again although up to date"))
        outputs = step.apply(ctx, upstream)
        state.mark_succeeded(key, outputs, step.history_entry(outputs))
        on_event(Event(SUCCEEDED_EVT, key, elapsed_s=time.monotonic() - started))
        return "succeeded", outputs
    except StateError as exc:  # the state cannot be read or written: not the step's fault
        return "state", exc
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, then reported
        if interrupted is not None and interrupted.is_set():
            return "interrupted", None  # its record stays "running": interrupted, not failed
        failure = _describe(key, exc)
        try:
            state.mark_failed(key, failure.error, _entry(step, exc))
        except StateError as broken:
            return "state", broken
        on_event(Event(FAILED_EVT, key, failure.error, time.monotonic() - started))
        return "failed", failure


def _entry(step: Step, exc: Exception):
    """What the run history keeps of a failed execution (the step says; None: nothing);
    a step whose entry cannot be made still has its failure recorded."""
    try:
        entry = step.history_entry(None)
    except Exception:  # noqa: BLE001 - the failure itself is what must be recorded
        return None
    if entry is not None and isinstance(exc, StepError) and getattr(exc, "log_path", None):
        entry = {**entry, "log": str(exc.log_path)}
    return entry


def _describe(key: str, exc: Exception) -> StepFailure:
    if isinstance(exc, BricksmithError):
        tail = exc.log_tail if isinstance(exc, StepError) else None
        return StepFailure(key, exc.message, exc.hint, tail)
    return StepFailure(key, f"{type(exc).__name__}: {exc}", "this looks like a bug in bricksmith")


def _failure_message(report: ApplyReport) -> str:
    lines = []
    for failure in report.failures:
        lines.append(f"step {failure.step} failed: {failure.error}")
        if failure.hint:
            lines.append(f"    hint: {failure.hint}")
        if failure.log_tail:
            lines.append("    last lines of its log:")
            lines.extend(f"      {line}" for line in failure.log_tail.rstrip().splitlines())
    return "\n".join(lines)


def _resume_hint(report: ApplyReport) -> str:
    failed = ", ".join(f.step for f in report.failures)
    pending = f"; {len(report.not_started)} step(s) did not start" if report.not_started else ""
    return (
        f"fix the cause and run apply again: it resumes at {failed}{pending}; "
        f"the {len(report.ran) + len(report.skipped)} completed step(s) are not repeated"
    )
