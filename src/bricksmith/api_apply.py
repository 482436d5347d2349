"""Applying a workflow: under the target's lock, after the preflight and the workspace edits
check, a saved plan checked to be still what apply would do, uploads taken out of the spec
removed, the steps executed, removed steps forgotten, and the state's end-of-apply copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bricksmith.engine.state import StateStore
from bricksmith.errors import StalePlan, UsageError
from bricksmith.plan.saved import SavedPlan, stale_reasons, state_digest
from bricksmith.steps.base import Outputs, Step, StepContext


class WorkflowApply:
    """Mixed into :class:`bricksmith.api.Workflow` (which gives ``spec``, ``target``,
    ``settings``, ``root``, ``state_path``, ``graph``, ``backend`` and ``context``)."""

    def apply(
        self,
        *,
        parallelism: int = 4,
        on_event: Callable[[Any], None] = lambda event: None,
        verbose: bool = False,
        saved: SavedPlan | None = None,
        discard_workspace_edits: bool = False,
        only: tuple[str, ...] = (),
        replace: tuple[str, ...] = (),
    ):
        """Apply every step that is not up to date. Raises ApplyFailed when a step fails.

        ``only``: apply just the steps it names (keys or globs) and what they need upstream;
        the others, and the records of removed steps, are left alone (``report.left_out``).
        ``replace``: run those steps even when up to date (a new execution each; what depends
        on them runs only if their outputs change). Raises :class:`UsageError` as
        :meth:`select` does. A ``saved`` plan brings its own.

        ``saved``: apply exactly that reviewed plan; refused (StalePlan) when the state moved
        since it was saved or planning again now gives other actions. Files edited in the
        workspace Git folder stop the apply before any step runs (:class:`WorkspaceEdits`,
        saying to ``bricksmith pull`` them) unless ``discard_workspace_edits``: then the
        workspace.repo step keeps a copy of each under ``<root>/workspace-edits/<UTC time>/``
        and resets the folder."""
        from bricksmith.engine.executor import LOG, OUTPUT, Event, execute
        from bricksmith.engine.lock import TargetLock
        from bricksmith.errors import StateError
        from bricksmith.records import backup_path

        if parallelism < 1:
            raise UsageError("--parallelism must be at least 1")
        if saved is not None:
            only, replace = saved.only, saved.replace
        chosen = self.select(only, replace)  # a name that matches no step: before anything
        # the target setting discard_git_folder_edits: true is --discard-workspace-edits always
        discard_workspace_edits = discard_workspace_edits or bool(
            getattr(self.settings, "discard_git_folder_edits", False))
        self.check_params()  # unknown parameter names: refused before anything changes
        self.preflight(saved, chosen)  # what the steps that will run need: all problems at once
        with TargetLock(self.root, self.target) as lock:
            if lock.stale:
                on_event(Event(LOG, "lock", f"released a stale lock: {lock.stale.describe()}"))
            self._check_workspace_edits(discard_workspace_edits, on_event)
            only_changes = self._check_saved_plan(saved) if saved is not None else None
            existed = self.state_path.exists()
            state = StateStore(self.state_path)  # refuses a damaged database
            try:
                state.check_rows()  # refuses damaged records before anything is written
                state.claim(*self.owner)  # refuses the state of another workflow
                if existed and not state.revision_matches(backup_path(self.state_path)):
                    state.backup()  # the latest good copy, for `bricksmith state restore`
                apply_id = state.begin_apply(lock.read_holder().describe())

                def make_context(step: Step, previous: Outputs, fingerprint: str) -> StepContext:
                    return self.context(
                        step,
                        previous,
                        fingerprint=fingerprint,
                        log=lambda message: on_event(Event(LOG, step.key, message)),
                        checkpoint=lambda outputs: state.checkpoint(step.key, outputs),
                        verbose=verbose,
                        discard_workspace_edits=discard_workspace_edits,
                        replaced=step.key in chosen.replace,
                        stream=lambda line: on_event(Event(OUTPUT, step.key, line)),
                    )

                status = "failed"
                try:
                    if not chosen.partial:
                        self._remove_dropped_uploads(state, on_event)
                    report = execute(
                        chosen.graph, state, make_context, parallelism=parallelism,
                        on_event=on_event, only=only_changes, replace=chosen.replace,
                        on_interrupt=getattr(self.backend, "interrupt", None),
                    )
                    report.left_out = list(chosen.left_out)
                    gone = [] if chosen.partial else sorted(state.keys() - set(self.graph.steps))
                    if gone:  # steps taken out of the spec: `-` in the plan
                        state.forget(gone)
                        for key in gone:
                            on_event(Event(LOG, key, "forgot the record of a removed step"))
                    report.removed = gone
                    status = "succeeded"
                    return report
                except StateError:
                    status = "stopped"  # damaged or unwritable: never copied over the backup
                    raise
                except KeyboardInterrupt:
                    status = "interrupted"
                    raise
                finally:
                    _end_apply(state, apply_id, status)
            finally:
                state.close()

    def _remove_dropped_uploads(self, state: StateStore, on_event: Callable) -> None:
        """An upload taken out of the spec takes its files with it, as a moved target does
        (the plan says so): removed before any step runs (another upload may now write to
        that folder), and before its record is forgotten, so no state forgets a file."""
        from bricksmith.engine.executor import LOG, Event

        for key in sorted(state.keys() - set(self.graph.steps)):
            record = state.get(key)
            if not key.startswith("data.upload[") or not record or not record.outputs.get(
                    "target"):
                continue
            if record.outputs.get("_workflow") not in (None, self.spec.workflow.name):
                continue  # another workflow's upload (a state two shared): not ours to remove
            removal = self.backend.remove_upload(record.outputs)
            left = f"; left {len(removal.left)} file(s) bricksmith did not write" if (
                removal.left) else ""
            on_event(Event(LOG, key, f"removed {removal.removed} file(s) it uploaded to "
                                     f"{record.outputs['target']}{left}"))

    def _check_saved_plan(self, saved: SavedPlan) -> frozenset[str]:
        """The steps ``saved`` changes, once it is known to be what apply would do now."""
        redo = f"review the plan again: bricksmith plan {self.spec.path} --out FILE"
        if state_digest(self.records()) != saved.state_digest:
            raise StalePlan(
                f"stale plan: the state of target {self.target!r} changed since it was saved "
                "(another apply ran)",
                hint=redo,
            )
        differences = stale_reasons(saved.plan, self.plan(only=saved.only,
                                                          replace=saved.replace))
        if differences:
            shown = "; ".join(differences[:5]) + (" ..." if len(differences) > 5 else "")
            raise StalePlan(f"stale plan: planning again now gives other actions: {shown}",
                            hint=redo)
        return frozenset(a.step for a in saved.plan.changes)


def _end_apply(state: StateStore, apply_id: int, status: str) -> None:
    """Record how the apply ended and copy the state as it leaves it (what ``state restore``
    brings back). A state that cannot be written any more fails a succeeded apply; after a
    failure, the first error is the one reported."""
    from contextlib import suppress

    from bricksmith.errors import StateError
    from bricksmith.records import backup_path

    try:
        state.end_apply(apply_id, status if status != "stopped" else "failed")
    except StateError:
        if status == "succeeded":
            raise
        return
    if status == "stopped":
        return
    # when it cannot be made, the copy taken at the start stays (restore says what it lacks);
    # an apply that changed no step has nothing new to copy
    with suppress(StateError):
        if not state.revision_matches(backup_path(state.path)):
            state.backup(f"at the end of apply {apply_id} ({status})", check=True)
