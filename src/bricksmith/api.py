"""bricksmith's public API: load a workflow for a target, then plan, apply, read status.

The CLI calls only this module. Everything here is plain Python and returns data, so other
front ends (a Kedro plugin, a notebook) can drive bricksmith the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bricksmith.engine.state import StateStore
from bricksmith.errors import StalePlan, StateError, UsageError
from bricksmith.plan.graph import StepGraph, build_graph, select, to_dot, to_mermaid
from bricksmith.plan.planner import Plan, make_plan
from bricksmith.plan.saved import (
    SavedPlan,
    bytes_digest,
    is_saved_plan,
    stale_reasons,
    state_digest,
)
from bricksmith.records import StepRecord
from bricksmith.run_params import deep_merge as _deep_merge
from bricksmith.spec import LoadedSpec, load_spec
from bricksmith.statuses import SUCCEEDED
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


@dataclass
class Workflow:
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

    # -- reading ---------------------------------------------------------------------------

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

    def workspace_edits(self) -> list[dict[str, Any]]:
        """The files edited, added or removed in the workspace Git folder since the commit
        apply checked it out at, each ``{"path", "change", "diff", "base"}`` ([] when none,
        before the first apply, or on a backend that cannot tell)."""
        return self._workspace_edits(self.records())[0]

    def _workspace_edits(self, records) -> tuple[list[dict[str, Any]], list | None]:
        record = records.get("workspace.repo")
        finder = getattr(self.backend, "repo_edits", None)
        edits, probes = [], []
        if record is not None and finder is not None and "path" in record.outputs:
            probes = self.backend.repo_probes(record.outputs)
            edits = finder(record.outputs)
        deployed = records.get("notebook.deploy")  # the notebook, edited in the workspace
        if deployed is not None and "notebook.deploy" in self.graph.steps:
            base = record.outputs.get("commit", "") if record is not None else ""
            edit = self.graph.step("notebook.deploy").edit(self.backend, deployed.outputs, base)
            edits += [edit] if edit else []
        return edits, probes

    def check_params(self) -> list[list] | None:
        """Refuse parameter names of ``project.params`` and the runs that the project does
        not define (``bricksmith.param_names``), when the project exists; else the params
        step and each run check them at apply. Returns probes of what it read, for the plan
        memo (None: a file changed too recently to be trusted). Raises :class:`SpecError`
        (the spec keys, file:line:col, did-you-mean) or :class:`ProjectConfError` (Kedro
        refuses the project's parameters: a key defined twice, a broken file)."""
        from bricksmith.observations import kind_probe, observe_all, observe_folder
        from bricksmith.param_names import check_spec_params, files_to_watch, project_exists

        workflow = self.spec.workflow
        if not workflow.project.params and not any(run.params for run in workflow.runs):
            return []
        project = self.spec.project_dir
        if not project_exists(project):
            return [kind_probe(project / "pyproject.toml")]
        from bricksmith.kedro_conf import read_project_conf

        conf = read_project_conf(project)
        files, folders = files_to_watch(conf)
        probes = observe_all(files)
        seen = [observe_folder(folder) for folder in folders]
        record = self.records().get("project.params")  # what bricksmith itself added
        check_spec_params(self.spec, conf=conf,
                          originals=record.outputs.get("originals") or [] if record else [])
        if probes is None or any(probe is None for probe in seen):
            return None
        return probes + seen

    def check_data_sources(self) -> list[list]:
        """Refuse ``data[].source`` folders missing from an existing project, at the spec key
        (a typo such as ``source: dat`` would otherwise fail at ``data.upload`` after other
        steps ran). Returns probes of what it looked at. Raises :class:`SpecError`."""
        from bricksmith.observations import kind_probe
        from bricksmith.param_names import positioned, project_exists

        project = self.spec.project_dir
        if not project_exists(project):
            return [kind_probe(project / "pyproject.toml")]
        missing, probes = [], []
        for index, data in enumerate(self.spec.workflow.data):
            folder = project / data.source
            probes.append(kind_probe(folder))
            if not folder.is_dir():
                missing.append((index, data.source, folder))
        if missing:
            from bricksmith.errors import SpecError

            document = positioned(self.spec)
            raise SpecError([
                document.diagnostic(
                    ("data", index, "source"),
                    f"data source {source!r} does not exist in the project ({folder})",
                    "give a folder of the Kedro project, relative to it (e.g. data)",
                    at_value=True)
                for index, source, folder in missing])
        return probes

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

    # -- applying --------------------------------------------------------------------------

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

    def _reach_workspace(self, records) -> None:
        """Raise :class:`PreflightFailed` with every problem the preflight finds without the
        network too, when the workspace cannot be asked (the plan could not be made)."""
        from bricksmith.errors import PreflightFailed
        from bricksmith.preflight import changing_steps, check_workspace, find_problems

        changing = changing_steps(self.graph, records)
        unreachable = check_workspace(self, changing)
        if unreachable:
            others, _probes = find_problems(self, changing, records, network=False,
                                            workspace=False)
            raise PreflightFailed([*unreachable, *others])

    def preflight(self, saved: SavedPlan | None = None,
                  chosen: Selection | None = None) -> None:
        """Check what the steps apply will run need (tokens, the git remote, the starter,
        the data folders, the workspace and its cluster: :mod:`bricksmith.preflight`) and
        raise :class:`PreflightFailed` with every problem found; nothing is written.
        ``chosen``: the part of the workflow apply acts on (``--only``/``--replace``)."""
        from bricksmith.errors import PreflightFailed
        from bricksmith.preflight import changing_steps, find_problems

        try:
            records = self.records()
        except StateError:
            records = {}  # apply refuses the damaged state itself, under its lock
        if saved is not None:
            changing = frozenset(a.step for a in saved.plan.changes)
        elif chosen is not None:
            changing = changing_steps(chosen.graph, records) | chosen.replace
        else:
            changing = changing_steps(self.graph, records)
        problems, _probes = find_problems(self, changing, records, network=True)
        if problems:
            raise PreflightFailed(problems)

    def _check_workspace_edits(self, discard: bool, on_event: Callable[[Any], None]) -> None:
        """Refuse (:class:`WorkspaceEdits`) when the workspace Git folder holds edits, unless
        ``discard``: then say they will be discarded and where their copy goes."""
        from bricksmith.backends.workspace_edits import describe_edits
        from bricksmith.engine.executor import LOG, Event
        from bricksmith.errors import WorkspaceEdits

        edits = self.workspace_edits()
        if not edits:
            return
        repo = self.records().get("workspace.repo")
        folder = repo.outputs["path"] if repo is not None else "?"
        keep = self.root / "workspace-edits"
        in_folder = [e for e in edits if not e.get("notebook")]
        what = [f"the workspace Git folder {folder} has edits that apply would overwrite: "
                f"{describe_edits(in_folder)}"] if in_folder else []
        what += [f"the deployed notebook {e['path']} was edited in the workspace and apply "
                 "would overwrite it (bricksmith generates it: `bricksmith pull` does not "
                 "bring it home; copy what you need into the project)"
                 for e in edits if e.get("notebook")]
        if discard:
            on_event(Event(LOG, "workspace.repo",
                           f"discarding the workspace edits ({describe_edits(edits)}); "
                           f"a copy of each is kept under {keep}/"))
            return
        spec = self.spec.path
        raise WorkspaceEdits(
            "; ".join(what) + "; nothing was changed",
            hint=f"bring them into the project with `bricksmith pull {spec}` (commits and "
            f"pushes them), or discard them with `bricksmith apply {spec} "
            f"--discard-workspace-edits` (a copy of each is kept under {keep}/); "
            f"`bricksmith plan {spec}` shows the diffs",
        )

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
