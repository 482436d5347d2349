"""What apply would do: the part of the workflow ``--only``/``--replace`` select, the plan
(each step's drift check, adoption, catalog notes, workspace edits, preflight warnings; a plan
whose checks all passed is remembered in the plan memo) and saving it for ``apply FILE``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bricksmith.errors import UsageError
from bricksmith.plan.graph import StepGraph, select
from bricksmith.plan.planner import Plan, make_plan
from bricksmith.plan.saved import SavedPlan, bytes_digest, state_digest
from bricksmith.records import StepRecord


@dataclass(frozen=True)
class Selection:
    """Part of a workflow to act on (``--only``) and steps to run again (``--replace``):
    ``graph`` the steps apply walks (the named ones and what they need upstream; the whole
    DAG without ``--only``), ``replace`` the step keys run even when up to date, ``left_out``
    the steps of the workflow (and removed steps the state still records) left alone.
    ``only``/``replaced``: the patterns as given (a saved plan keeps them)."""

    graph: StepGraph
    replace: frozenset[str] = frozenset()
    left_out: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.only)


class WorkflowPlan:
    """Mixed into :class:`bricksmith.api.Workflow` (which gives ``spec``, ``target``,
    ``settings``, ``root``, ``state_path``, ``graph``, ``backend`` and ``context``)."""

    def select(self, only: tuple[str, ...] = (), replace: tuple[str, ...] = (),
               records: Mapping[str, StepRecord] | None = None) -> Selection:
        """The part of the workflow ``only`` names (step keys or globs such as ``run.*``; all
        of it when empty) with what it needs upstream, and the steps ``replace`` names.
        Raises :class:`UsageError` (listing the steps) when a pattern names no step, or a
        replaced step is outside ``only``."""
        only, replace = tuple(only), tuple(replace)
        graph = self.graph
        forced = select(graph, replace, "--replace") if replace else frozenset()
        if not only:
            return Selection(graph, forced, (), only, replace)
        part = graph.subgraph(select(graph, only, "--only"))
        outside = sorted(forced - set(part.steps))
        if outside:
            raise UsageError(
                f"--replace {', '.join(outside)}: not among the steps --only "
                f"{' '.join(only)} selects",
                hint=f"add --only {outside[0]}, or drop that --replace")
        gone = sorted(set(records if records is not None else self.records()) - set(graph.steps))
        left_out = tuple(key for key in graph.order if key not in part.steps) + tuple(gone)
        return Selection(part, forced, left_out, only, replace)

    def plan(self, *, refresh: bool = True, only: tuple[str, ...] = (),
             replace: tuple[str, ...] = ()) -> Plan:
        """What apply would do. ``refresh=False`` compares the spec with the saved state only,
        without asking each step whether what it made is still there (faster; blind to
        drift, which apply still finds). ``only``/``replace``: as :meth:`select` (raises
        :class:`UsageError` as it does); such a plan is never remembered in a memo."""
        from bricksmith.plan import memo
        from bricksmith.state_revision import read_revision, signature

        # A plan whose checks all passed is remembered (bricksmith.plan.memo) with the
        # state's revision and file signature, read before the records (a change in between
        # never matches), or with no state at all; a state of an older schema has no
        # revision: not remembered. Neither is a plan made while another apply works.
        stamp = signature(self.state_path)
        checked = self.check_params()  # refuses unknown parameter names (SpecError)
        checked = None if checked is None else [*checked, *self.check_data_sources()]
        revision = read_revision(self.state_path) if refresh else None
        memoable = refresh and memo.enabled(self.environ) and (
            revision is not None or not self.state_path.exists()) and not (only or replace)
        records = self.records()
        chosen = self.select(only, replace, records)
        working = self.working_apply()
        if working is not None:
            memoable = False
        probes: list[list] | None = checked if memoable else None
        asked = refresh and self.settings.backend == "databricks"
        if asked:  # its checks read the workspace: a wrong host or token fails in seconds
            self._reach_workspace(records)
        # what the plan says of each run's catalog (runs that take turns, data not uploaded)
        from bricksmith.plan.catalog_notes import catalog_notes

        notes, note_probes = catalog_notes(self.spec)
        if probes is not None:
            probes = None if note_probes is None else [*probes, *note_probes]

        def check(key: str, record: StepRecord) -> list[str]:
            nonlocal probes
            if not refresh:
                return []
            step = self.graph.step(key)
            ctx = self.context(step, record.outputs)
            if probes is not None:  # observed before the check reads the same things
                found = step.probes(ctx, record.outputs)
                if found is None:
                    probes = None
                else:
                    probes.extend(found)
            drift = step.check(ctx, record.outputs)
            if drift:
                probes = None  # what a drift check saw is not remembered
            return drift

        def adopting(key: str) -> str | None:  # a step never applied: what it will find
            nonlocal probes
            step = self.graph.step(key)
            if not step.may_adopt:
                return None
            ctx = self.context(step, {})
            if probes is not None:
                found = step.probes(ctx, {})
                probes = None if found is None else [*probes, *found]
            return step.adopts(ctx)

        plan = make_plan(chosen.graph, records, check, working=working, adopting=adopting,
                         replace=chosen.replace, partial=chosen.partial)
        plan = plan.with_left_out(chosen.left_out)
        for action in plan.changes if refresh else ():  # refused now what a step cannot do
            vet = getattr(self.graph.steps.get(action.step), "vet", None)
            if vet is not None:  # (a data folder holding a symlink out of the project)
                found = vet(self.context(self.graph.step(action.step), {}))
                probes = None if probes is None or found is None else probes + found
        if refresh:  # edits in the workspace Git folder, whatever the plan does with its step
            edits, edit_probes = self._workspace_edits(records)
            if edits or edit_probes is None:
                probes = None
            elif probes is not None:
                probes.extend(edit_probes)
            plan = plan.with_edits(edits)
        from bricksmith.preflight import find_problems, plan_warnings

        problems, preflight_probes = find_problems(
            self, (a.step for a in plan.changes), records, network=False, workspace=not asked)
        notes = [*notes, *plan_warnings(problems)]
        if problems or preflight_probes is None:
            probes = None  # said again by each plan until it is fixed
        elif probes is not None:
            probes.extend(preflight_probes)
        if probes is not None and memoable:
            facts = [["kind", path, kind] for path, kind in self.spec.facts.items()]
            memo.write(
                spec=self.spec.path,
                requested_target=self.requested_target,
                key=memo.memo_key(self.spec.source_sha256, self.spec.inputs_sha256,
                                  self.requested_target, self.environ),
                target=self.target,
                state_path=self.state_path,
                revision=revision,
                plan=plan.with_notes(notes),
                probes=facts + probes,
                signature=stamp,
            )
        return plan.with_notes(notes)

    def save_plan(self, plan: Plan, path: str | os.PathLike, *, only: tuple[str, ...] = (),
                  replace: tuple[str, ...] = ()) -> Path:
        """Write ``plan`` for ``apply FILE``, with what it was made from (``only`` and
        ``replace``: the patterns it was planned with)."""
        import json

        saved = SavedPlan(
            spec=str(self.spec.path),
            spec_sha256=bytes_digest(self.spec.path.read_bytes()),
            target=self.target,
            variables=self.variables,
            state_digest=state_digest(self.records()),
            plan=plan,
            only=tuple(only),
            replace=tuple(replace),
        )
        from bricksmith.atomic import write_text_atomically

        out = Path(path)
        try:
            write_text_atomically(out, json.dumps(saved.to_json(), indent=2) + "\n")
        except OSError as exc:
            raise UsageError(
                f"cannot write the plan to {out}: {exc.strerror or exc}",
                hint="pass --out FILE in a folder you can write to",
            ) from None
        from bricksmith.backends.git import exclude_own_paths

        with contextlib.suppress(OSError):  # a plan saved in the project is never committed
            exclude_own_paths(self.spec.project_dir, [out])
        return out
