"""What plan and apply check before any step runs: parameter names against the Kedro
project, ``data[].source`` folders, edits in the workspace Git folder (and the deployed
notebook), the workspace being reachable, and apply's preflight."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bricksmith.api_plan import Selection
from bricksmith.errors import StateError
from bricksmith.plan.saved import SavedPlan


class WorkflowChecks:
    """Mixed into :class:`bricksmith.api.Workflow` (which gives ``spec``, ``target``,
    ``settings``, ``root``, ``state_path``, ``graph``, ``backend`` and ``context``)."""

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
        from bricksmith.engine.executor import NOTE, Event
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
            on_event(Event(NOTE, "workspace.repo",
                           f"discarding the workspace edits ({describe_edits(edits)}); "
                           f"a copy of each is kept under {keep}/"))
            return
        spec = self.spec.path
        discard = (f"`bricksmith apply {spec} --discard-workspace-edits` (a copy of each is "
                   f"kept under {keep}/); `bricksmith plan {spec}` shows the diffs")
        raise WorkspaceEdits(
            "; ".join(what) + "; nothing was changed",
            hint=(f"bring them into the project with `bricksmith pull {spec}` (commits and "
                  f"pushes them), or discard them with {discard}") if in_folder else
            f"copy what you need into the project, then discard it with {discard}",
        )
