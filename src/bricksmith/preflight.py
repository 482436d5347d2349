"""The preflight: what apply will need, checked before its first step changes anything.

Only what the steps that will run need is checked (a step that is up to date needs nothing,
except what its own check reads):

- ``repo.token_env`` set, when git.push or workspace.repo will run, or git.push's check reads a
  remote that is not local (``git ls-remote`` of a private repository needs the token);
- the git remote reachable with that token and its branch there or creatable (a local remote:
  a bare repository or a path apply can create; another one: ``git ls-remote``), and not
  holding commits the project lacks (git would refuse the push after the commit);
- the starter, when the project will be created (a built-in one shipped, a git one reachable);
- each ``data[].source`` folder, once the project exists;
- the workspace: the backend's own ``preflight`` (Databricks: the host answering
  current-user/me with these credentials, the cluster existing when runs will start).

Every problem is collected (what, where, how to fix) and apply stops with all of them
(:class:`bricksmith.errors.PreflightFailed`) before it takes the lock or writes anything.
``plan`` shows the same problems as warnings, without the network: it reads the environment,
the files and a local remote, never asks another git host or the workspace (its drift checks
already ask what they need); nothing is cached across runs beyond the plan memo's probes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bricksmith.errors import BackendError, Problem

if TYPE_CHECKING:
    from bricksmith.api import Workflow
    from bricksmith.plan.graph import StepGraph
    from bricksmith.records import StepRecord

PUSH, WORKSPACE, SCAFFOLD = "git.push", "workspace.repo", "project.scaffold"


def changing_steps(graph: StepGraph, records: Mapping[str, StepRecord]) -> frozenset[str]:
    """The steps a plan without drift checks says apply will run (conditional ones too)."""
    from bricksmith.plan.planner import REMOVE, make_plan

    plan = make_plan(graph, records, lambda key, record: [])
    return frozenset(a.step for a in plan.changes if a.action != REMOVE)


def find_problems(
    workflow: Workflow, changing: Iterable[str], records: Mapping[str, StepRecord], *,
    network: bool, workspace: bool = True,
) -> tuple[list[Problem], list | None]:
    """(every problem found, probes of what was read for the plan memo; None: cannot be
    put so). ``changing``: the steps that will run; ``network``: ask the git remote, a git
    starter and the workspace (apply), else read only local things (plan); ``workspace``:
    check the workspace (False: :func:`check_workspace` did)."""
    changing = frozenset(key for key in changing if key in workflow.graph)
    checks = _Checks(workflow, changing, records, network)
    checks.token()
    checks.remote()
    checks.starter()
    if network:  # plan refuses a missing data folder itself (SpecError at its key)
        checks.data_sources()
    if workspace:
        checks.workspace()
    return checks.problems, checks.probes


def check_workspace(workflow: Workflow, changing: Iterable[str]) -> list[Problem]:
    """The workspace asked now (host, credentials, the cluster when runs will start): a plan
    of a Databricks target asks it first, since its own checks read the workspace with the
    SDK's long retry budget (minutes on a wrong host)."""
    checks = _Checks(workflow, frozenset(changing), {}, network=True)
    checks.workspace()
    return checks.problems


class _Checks:
    def __init__(self, workflow: Workflow, changing: frozenset[str],
                 records: Mapping[str, StepRecord], network: bool) -> None:
        self.workflow, self.changing, self.records = workflow, changing, records
        self.network = network
        self.spec = workflow.spec
        self.environ = workflow.environ
        self.problems: list[Problem] = []
        self.probes: list | None = []

    def _probe(self, *probes: Any) -> None:
        if self.probes is not None:
            self.probes = None if any(p is None for p in probes) else [*self.probes, *probes]

    def _at(self, *path: str | int) -> str:
        """``file:line:col: key.path`` of a spec key (its value's position)."""
        from bricksmith.param_names import positioned

        found = positioned(self.spec).diagnostic(path, "", at_value=True)
        return f"{found.location()}: {found.path}"

    @property
    def _location(self) -> str:
        from bricksmith.gitremote import remote_location

        return remote_location(self.spec.workflow.repo.remote, self.spec.base_dir)

    def _checks_remote(self) -> bool:
        """git.push's check reads a remote that is not local (with the token)."""
        from bricksmith.gitremote import local_remote_path
        from bricksmith.statuses import SUCCEEDED

        record = self.records.get(PUSH)
        return (PUSH not in self.changing and record is not None
                and record.status == SUCCEEDED and local_remote_path(self._location) is None)

    def token(self) -> None:
        from bricksmith.observations import env_probe

        name = self.spec.workflow.repo.token_env
        if not name:
            return
        users = [key for key in (PUSH, WORKSPACE) if key in self.changing]
        if self._checks_remote():
            users.append(f"{PUSH}'s check of the remote")
        if not users:
            return
        self._probe(env_probe(name, self.environ))
        if self.environ.get(name):
            return
        self.problems.append(Problem(
            f"environment variable {name} is not set; {' and '.join(users)} need it",
            self._at("repo", "token_env"),
            f"export {name}=<a token with access to {self._location}> (read from the "
            "environment only, never written anywhere)"))

    def remote(self) -> None:
        pushing = PUSH in self.changing
        if not (pushing or WORKSPACE in self.changing):
            return
        from bricksmith.backends.git_preflight import remote_problems
        from bricksmith.gitremote import local_remote_path
        from bricksmith.observations import kind_probe

        repo = self.spec.workflow.repo
        folder = local_remote_path(self._location)
        seen: list = []
        found = remote_problems(self._location, repo.branch, repo.token_env,
                                project=self.spec.project_dir, network=self.network,
                                pushing=pushing, seen=seen)
        self.problems += [p._replace(where=self._at("repo", "remote")) for p in found]
        if folder is not None:
            self._probe(kind_probe(folder), kind_probe(folder.parent))
            if pushing and folder.exists():
                self._branch_probes(seen)

    def _branch_probes(self, seen: list) -> None:
        """Probes of what the push check read: the branch's commit (or none) in the local
        remote and, when it was compared, in the project; commits never change, so what the
        check said holds while these do."""
        from bricksmith.observations import git_probe, kind_probe

        project = self.spec.project_dir
        if not (project / ".git").exists():
            self._probe(kind_probe(project / ".git"))
        if not seen:  # git could not tell
            self._probe(None)
            return
        self._probe(*(git_probe(None, args, stdout) for args, stdout in seen))

    def starter(self) -> None:
        from bricksmith.steps.scaffold import is_kedro_project

        if SCAFFOLD not in self.changing or is_kedro_project(self.spec.project_dir):
            return
        from bricksmith.observations import kind_probe
        from bricksmith.starters.resolve import BUILTIN_STARTERS, builtin_starter_path

        project = self.spec.workflow.project
        location = project.starter.partition("#")[0]
        if location in BUILTIN_STARTERS:
            template = builtin_starter_path(location) / "cookiecutter.json"
            self._probe(kind_probe(template))
            if not template.is_file():
                self.problems.append(Problem(
                    f"the built-in starter {location!r} is missing from this installation "
                    f"({template.parent})", self._at("project", "starter"),
                    "reinstall bricksmith (pip install --force-reinstall bricksmith)"))
            return
        local = Path(location).expanduser()
        local = local if local.is_absolute() else self.spec.base_dir / local
        if local.exists() or not self.network:
            return  # a local starter is checked when the spec is loaded
        from bricksmith.backends.git_preflight import starter_problems
        from bricksmith.starters.clone import without_credentials

        url = location.removeprefix("git+")
        self.problems += [p._replace(where=self._at("project", "starter"))
                          for p in starter_problems(url, without_credentials(url))]

    def data_sources(self) -> None:
        from bricksmith.param_names import project_exists

        project = self.spec.project_dir
        if not project_exists(project):
            return  # the starter makes the project: the upload says what is missing
        for index, data in enumerate(self.spec.workflow.data):
            folder = project / data.source
            if not folder.is_dir():
                self.problems.append(Problem(
                    f"data source {data.source!r} does not exist in the project ({folder})",
                    self._at("data", index, "source"),
                    "give a folder of the Kedro project, relative to it (e.g. data)"))

    def workspace(self) -> None:
        backend = self.workflow.backend
        runs = any(key.startswith("run.") for key in self.changing)
        if self.workflow.settings.backend != "databricks":
            if self.network:
                self._backend_preflight(backend, runs)
            return
        from bricksmith.backends.databricks_preflight import workspace_problems

        self.problems += workspace_problems(backend, self.workflow.target, network=self.network,
                                            runs=runs, environ=self.environ)
        if not self.network:
            self._probe(*_config_probes(self.environ))

    def _backend_preflight(self, backend, runs: bool) -> None:
        try:
            backend.preflight(runs=runs)
        except BackendError as exc:
            self.problems.append(Problem(exc.message, f"target {self.workflow.target}",
                                         exc.hint or "check the target's settings"))


def _config_probes(environ: Mapping[str, str]) -> list:
    """What the Databricks configuration check read: each credential variable set or not
    (never its value), the config file, the CLI's token cache."""
    from bricksmith.backends.databricks_preflight import CREDENTIAL_ENV, config_path
    from bricksmith.observations import env_probe, kind_probe, observe

    names = (*CREDENTIAL_ENV, "DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE")
    return [*(env_probe(name, environ) for name in names), observe(config_path(environ)),
            kind_probe(Path.home() / ".databricks" / "token-cache.json")]


def plan_warnings(problems: Iterable[Problem]) -> list[str]:
    """A plan's warning for each problem: apply would stop on it."""
    return [f"apply would stop before changing anything: {p.line()}" for p in problems]

