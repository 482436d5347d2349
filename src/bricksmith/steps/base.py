"""What every step is: a key, the steps it depends on, its inputs, check() and apply().

Steps never call each other: everything a step needs from upstream arrives in ``upstream``,
the outputs of the steps it depends on. Steps reach the outside world only through the
``StepContext`` (backend, paths, logging, checkpoints).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bricksmith.backends.base import Backend
    from bricksmith.spec import LoadedSpec

Outputs = dict[str, Any]


@dataclass
class StepContext:
    """Everything a step may touch while it checks or applies."""

    spec: LoadedSpec
    target: str
    backend: Backend
    root: Path  # the target's root folder (state, logs, emulated workspace)
    log: Callable[[str], None] = lambda message: None
    # each line of a run's own log as it is written (the live table's cell/node; -v shows it)
    stream: Callable[[str], None] | None = None
    checkpoint: Callable[[Outputs], None] = lambda outputs: None
    previous: Outputs = field(default_factory=dict)  # outputs recorded by the last attempt
    fingerprint: str = ""  # of this step's inputs in this apply (keys idempotent remote work)
    verbose: bool = False
    discard_workspace_edits: bool = False  # apply --discard-workspace-edits
    replaced: bool = False  # --replace: run anew, never adopt what an earlier attempt left

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def project_dir(self) -> Path:
        return self.spec.project_dir


class Step(ABC):
    """One idempotent unit of work in the DAG."""

    key: str
    deps: tuple[str, ...] = ()
    title: str = ""
    timeout_s: float = 30 * 60  # the engine fails a step that runs longer than this
    # True when repairing what check() found always gives other outputs (committing the
    # changes found makes a new commit); the plan then lists what depends on it for certain
    repair_changes_outputs: bool = False

    @abstractmethod
    def inputs(self) -> dict[str, Any]:
        """The slice of the spec this step reads, resolved. JSON-able; never a secret."""

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        """Read what exists now. Return why the recorded outputs are gone or drifted ([] = fine)."""
        return []

    def probes(self, ctx: StepContext, outputs: Outputs) -> list[list[Any]] | None:
        """What ``check`` relies on, as probes (``bricksmith.observations``), observed before
        ``check`` runs. None when it cannot be put so: plans are then not memoised."""
        return None

    def interrupted(self, outputs: Outputs, inputs: Mapping[str, Any], *,
                    superseded: bool) -> list[str]:
        """What an interrupted attempt (its checkpointed ``outputs``, started with ``inputs``)
        left in flight and what apply will do with it; ``superseded``: the inputs or an
        upstream step changed since. Reads nothing but its arguments ([] = nothing)."""
        return []

    may_adopt = False  # whether ``adopts`` can say anything (the planner asks only then)

    def adopts(self, ctx: StepContext) -> str | None:
        """For a step never applied: why apply will take over what already exists instead of
        creating it (a plan's reason, e.g. "adopt the existing project at ..."), else None.
        Reads only what ``probes(ctx, {})`` observes."""
        return None

    def history_entry(self, outputs: Outputs | None) -> dict[str, Any] | None:
        """What the run history keeps of an execution that ended with ``outputs`` (None: it
        failed; the engine adds the error). None (the default): the step keeps no history."""
        return None

    def annotate(self, reasons: list[str], outputs: Outputs) -> list[str]:
        """The plan's reasons for updating this step because its inputs changed (lines such
        as ``params.x: 0.6 → (none)``), said more exactly with what the last apply recorded
        in ``outputs``. Pure: no I/O."""
        return reasons

    @abstractmethod
    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        """Make it so. Safe to repeat. Returns the outputs downstream steps and status read."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key}>"
