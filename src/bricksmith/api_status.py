"""What a workflow's target records, read without its lock: the step records and run
executions of the state, who applies it now, ``status`` (steps, runs with their effective
params and metrics), the graph coloured by status; and the state commands (``state unlock``,
``state restore``)."""

from __future__ import annotations

from typing import Any

from bricksmith.engine.state import StateStore
from bricksmith.plan.graph import to_dot, to_mermaid
from bricksmith.records import StepRecord
from bricksmith.run_params import deep_merge as _deep_merge
from bricksmith.statuses import SUCCEEDED


class WorkflowStatus:
    """Mixed into :class:`bricksmith.api.Workflow` (which gives ``spec``, ``target``,
    ``settings``, ``root``, ``state_path``, ``graph``, ``backend`` and ``context``)."""

    def records(self) -> dict[str, StepRecord]:
        """The saved step records of this target ({} before the first apply). No lock needed."""
        from bricksmith.engine.state import check_owner

        store = StateStore.open_readonly(self.state_path)
        if store is None:
            return {}
        try:
            check_owner(self.state_path, store.owner(), *self.owner)
            return store.all()
        finally:
            store.close()

    def run_history(self) -> list[dict[str, Any]]:
        """Every recorded execution of this spec's runs, oldest first: dicts of ``run``,
        ``execution`` (1 = the run's first), status, started_at, finished_at and what the run
        kept (params, effective_params, metrics, commit, duration_s, log; error when it
        failed). [] before the first apply. Raises StateError on damage."""
        from bricksmith.engine.state import check_owner

        store = StateStore.open_readonly(self.state_path)
        if store is None:
            return []
        try:
            check_owner(self.state_path, store.owner(), *self.owner)
            names = {f"run.{run.name}": run.name for run in self.spec.workflow.runs}
            return [{"run": names[e.step], **e.to_json()} for e in store.executions()
                    if e.step in names]
        finally:
            store.close()

    @property
    def owner(self) -> tuple[str, str]:
        """(workflow name, spec path): what a state this workflow applies records as its
        owner; another workflow sharing the target root is refused."""
        return self.spec.workflow.name, str(self.spec.path.resolve())

    def working_apply(self) -> str | None:
        """"apply <pid> on <host> (started ...)" while another apply holds this target's lock,
        else None."""
        from bricksmith.engine.lock import TargetLock

        holder = TargetLock(self.root, self.target).working()
        if holder is None:
            return None
        return f"apply {holder.pid} on {holder.host} (started {holder.started})"

    def status(self) -> dict[str, Any]:
        """What the state records of every step and run; ``apply``: who works on the target
        right now (None when nobody does); a step recorded as running gets a ``note``
        saying whether it is in progress there or was interrupted."""
        records = self.records()
        working = self.working_apply()
        steps = []
        for key in self.graph.order:
            record = records.get(key)
            if record is None:
                steps.append({"step": key, "status": "pending"})
            else:
                steps.append(record.to_json())
                if record.status == "running":
                    steps[-1]["note"] = (f"running in {working}" if working else
                                         "interrupted: apply again to resume")
        runs = []
        project_params = self.spec.workflow.project.params
        for run in self.spec.workflow.runs:
            record = records.get(f"run.{run.name}")
            ok = record is not None and record.status == SUCCEEDED
            outputs = record.outputs if record else {}
            ran_with = _ran_with(outputs, project_params, run.params) if ok else _deep_merge(
                project_params, run.params
            )  # what the run really ran with; the spec's values until it has run
            runs.append(
                {
                    "name": run.name,
                    "status": record.status if record else "pending",
                    "params": run.params,
                    "effective_params": ran_with,
                    # whether those are the values Kedro reported using (else the spec's)
                    "effective_params_reported": ok
                    and isinstance(outputs.get("effective_params"), dict),
                    "warnings": outputs.get("warnings") if ok else None,
                    "metrics": outputs.get("metrics") if ok else None,
                    "metric_sources": outputs.get("metric_sources") if ok else None,
                    "duration_s": outputs.get("_duration_s") if ok else None,
                    "log": outputs.get("_log"),
                    "run_page_url": outputs.get("_run_page_url"),
                    "finished_at": record.finished_at if record else None,
                    "error": record.error if record else None,
                }
            )
        return {"target": self.target, "apply": working, "steps": steps, "runs": runs}

    def unlock(self, *, force: bool = False) -> str:
        from bricksmith.engine.lock import TargetLock

        return TargetLock(self.root, self.target).unlock(force=force)

    def restore_state(self) -> str:
        """Put the copy the last apply kept back; says when it was taken and which steps the
        next apply will do again because the copy does not know their result."""
        from bricksmith.engine.lock import TargetLock
        from bricksmith.engine.restore import describe, restore

        with TargetLock(self.root, self.target):
            restored = restore(self.state_path)
        return describe(self.state_path, restored)

    def statuses(self) -> dict[str, str]:
        """{step: last status} of the steps this target has a record of."""
        return {key: record.status for key, record in self.records().items()}

    def mermaid(self) -> str:
        return to_mermaid(self.graph, self.statuses())

    def dot(self) -> str:
        """The DAG in Graphviz's DOT language, nodes coloured by their last status."""
        return to_dot(self.graph, self.statuses())


def _ran_with(
    outputs: dict[str, Any], project_params: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """A finished run's parameters: the values Kedro reported using (``effective_params``),
    else (runs recorded before bricksmith read them back) what was asked of it."""
    if isinstance(outputs.get("effective_params"), dict):
        return outputs["effective_params"]
    return _deep_merge(
        outputs.get("project_params", project_params), outputs.get("params", params)
    )
