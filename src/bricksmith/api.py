"""bricksmith's public API: load a workflow for a target, then plan, apply, read status.

The CLI calls only this module. Everything here is plain Python and returns data, so other
front ends (a Kedro plugin, a notebook) can drive bricksmith the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from bricksmith.api_apply import WorkflowApply
from bricksmith.api_checks import WorkflowChecks
from bricksmith.api_plan import Selection, WorkflowPlan  # noqa: F401  (re-exported)
from bricksmith.api_status import WorkflowStatus
from bricksmith.errors import StalePlan, UsageError
from bricksmith.plan.graph import StepGraph, build_graph
from bricksmith.plan.saved import SavedPlan, bytes_digest, is_saved_plan
from bricksmith.spec import LoadedSpec, load_spec
from bricksmith.steps.base import Outputs, Step, StepContext


def load(
    spec_path: str | os.PathLike,
    *,
    target: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Workflow:
    """Validate the spec at ``spec_path`` and pick ``target`` (the spec's default if None)."""
    path = Path(spec_path)
    if not path.exists():
        raise UsageError(
            f"spec file {spec_path} not found",
            hint="pass the path of a workflow YAML file, e.g. specs/iris.yaml",
        )
    spec = load_spec(
        path, variables=dict(variables or {}), environ=environ or os.environ, target=target
    )
    chosen, _ = spec.get_target(target)  # an unknown --target gets a did-you-mean
    return Workflow(spec, chosen, dict(variables or {}), requested_target=target,
                    environ=environ or os.environ)


def is_saved_plan_file(path: str | os.PathLike) -> bool:
    """``path`` holds a plan saved by ``plan --out`` (JSON with its marker), not a spec."""
    return _read_saved_plan(Path(path)) is not None


def load_saved_plan(
    path: str | os.PathLike, *, environ: Mapping[str, str] | None = None
) -> tuple[Workflow, SavedPlan]:
    """The workflow a saved plan was made for (same spec file, target and ``--var`` values) and
    the plan. Raises :class:`UsageError` when the spec is gone, :class:`StalePlan` when its
    bytes changed."""
    data = _read_saved_plan(Path(path))
    saved = SavedPlan.from_json(data, str(path))
    spec = Path(saved.spec)
    redo = f"plan again: bricksmith plan {spec} --out {path}"
    try:
        raw = spec.read_bytes()
    except OSError:
        raise UsageError(f"the spec of this plan, {spec}, cannot be read", hint=redo) from None
    if bytes_digest(raw) != saved.spec_sha256:
        raise StalePlan(f"stale plan: {spec} changed since the plan was saved", hint=redo)
    workflow = load(spec, target=saved.target, variables=saved.variables, environ=environ)
    return workflow, saved


def _read_saved_plan(path: Path) -> dict | None:
    import json

    try:
        with path.open("rb") as handle:
            if handle.read(1).strip() not in (b"{", b""):
                return None
            handle.seek(0)
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return data if is_saved_plan(data) else None


@dataclass
class Workflow(WorkflowStatus, WorkflowPlan, WorkflowChecks, WorkflowApply):
    spec: LoadedSpec
    target: str
    variables: dict[str, str] = field(default_factory=dict)  # the --var values it was loaded with
    requested_target: str | None = None  # --target as given (None: the spec's default)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)

    @property
    def settings(self):
        return self.spec.workflow.targets[self.target]

    @cached_property
    def root(self) -> Path:
        return self.spec.resolve_path(self.settings.root)

    @property
    def state_path(self) -> Path:
        return self.root / "state.db"

    @cached_property
    def graph(self) -> StepGraph:
        """The DAG of steps (``graph.to_networkx()`` for a networkx DiGraph)."""
        return build_graph(self.spec, self.target)

    @cached_property
    def backend(self):
        settings = self.settings
        if settings.backend == "local":
            from bricksmith.backends.local import LocalBackend

            return LocalBackend(self.root, settings.user,
                                cluster_idle_minutes=settings.cluster_idle_minutes)
        from bricksmith.backends.databricks import DatabricksBackend

        return DatabricksBackend(
            host=settings.host, profile=settings.profile, cluster_id=settings.cluster_id,
            git_folder_parent=settings.git_folder_parent,
            keep_dir=self.root / "workspace-edits",
            project=self.spec.project_dir,
            serverless=settings.serverless,
        )

    def context(
        self,
        step: Step,
        previous: Outputs,
        *,
        fingerprint: str = "",
        log: Callable[[str], None] = lambda message: None,
        checkpoint: Callable[[Outputs], None] = lambda outputs: None,
        verbose: bool = False,
        discard_workspace_edits: bool = False,
        replaced: bool = False,
        stream: Callable[[str], None] | None = None,
    ) -> StepContext:
        return StepContext(
            spec=self.spec,
            target=self.target,
            backend=self.backend,
            root=self.root,
            log=log,
            checkpoint=checkpoint,
            previous=previous,
            fingerprint=fingerprint,
            verbose=verbose,
            discard_workspace_edits=discard_workspace_edits,
            replaced=replaced,
            stream=stream,
        )
