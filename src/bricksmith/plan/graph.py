"""Compile a validated spec into the DAG of steps.

The planner and the engine walk a :class:`StepGraph`: the steps, their dependencies and one
fixed topological order. The DAG itself is a networkx ``DiGraph`` (steps as nodes carrying
``step``, data dependencies as edges, built by :func:`graph_of`): acyclicity, the order, the
generations that may run in parallel, and a step's ancestors and descendants come from
networkx. networkx is imported when a spec is compiled, never on a replayed plan memo's path
(:mod:`bricksmith.plan.memo`), which builds no step.

    project.scaffold ─► project.params ─► git.commit ─► git.push ─► workspace.repo ─┐
            └────────► data.upload[i] ──────────────────────────────────────────────┼─► run.<name>
                       notebook.deploy ─────────────────────────────────────────────┘
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bricksmith.gitremote import Identity, remote_location
from bricksmith.spec import LoadedSpec
from bricksmith.steps.base import Step
from bricksmith.steps.data import UploadData
from bricksmith.steps.git import CommitProject, PushProject
from bricksmith.steps.mlflow import mlflow_steps
from bricksmith.steps.notebook import DeployNotebook
from bricksmith.steps.params import WriteParams
from bricksmith.steps.run import RunNotebook
from bricksmith.steps.scaffold import ScaffoldProject
from bricksmith.steps.workspace import SyncWorkspaceRepo

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class StepGraph:
    """A DAG of steps: ``dag`` the networkx DiGraph (an edge ``dep -> step``), ``order``
    its lexicographical topological order (ties broken by key: deterministic), ``deps`` and
    ``dependents`` each step's direct neighbours (sorted)."""

    steps: dict[str, Step]
    order: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]] = field(repr=False)
    dag: nx.DiGraph = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __contains__(self, key: object) -> bool:
        return key in self.steps

    def step(self, key: str) -> Step:
        return self.steps[key]

    def to_networkx(self) -> nx.DiGraph:
        """The DAG as a networkx DiGraph (nodes carry ``step``); the graph's own: not a copy."""
        return self.dag

    @property
    def generations(self) -> tuple[tuple[str, ...], ...]:
        """The steps in layers that may run in parallel: each step comes after every step it
        depends on (``networkx.topological_generations``; each layer sorted by key)."""
        import networkx as nx

        return tuple(tuple(sorted(layer)) for layer in nx.topological_generations(self.dag))

    def ancestors(self, keys: Iterable[str]) -> set[str]:
        """Every step that ``keys`` need upstream, directly or not (``keys`` excluded)."""
        import networkx as nx

        found: set[str] = set()
        for key in keys:
            found |= nx.ancestors(self.dag, key)
        return found - set(keys)

    def descendants(self, keys: Iterable[str]) -> set[str]:
        """Every step that depends on ``keys``, directly or not (``keys`` excluded)."""
        import networkx as nx

        found: set[str] = set()
        for key in keys:
            found |= nx.descendants(self.dag, key)
        return found - set(keys)

    def subgraph(self, keys: Iterable[str]) -> StepGraph:
        """The graph of ``keys`` and everything they need upstream (an ``--only``)."""
        wanted = set(keys)
        wanted |= self.ancestors(wanted)
        return _graph(self.dag.subgraph(wanted).copy())


def workspace_settings(spec: LoadedSpec, target: str) -> dict:
    """The target settings that decide where things land (they are inputs of those steps)."""
    settings = spec.workflow.targets[target].model_dump(mode="json")
    # settings added later count only when set: older states keep their fingerprints;
    # discarding Git folder edits is how apply behaves, not where things land
    if settings.get("git_folder_parent") is None:
        settings.pop("git_folder_parent", None)
    settings.pop("discard_git_folder_edits", None)
    return {"target": target, **settings}


def build_steps(spec: LoadedSpec, target: str) -> list[Step]:
    wf = spec.workflow
    settings = workspace_settings(spec, target)
    steps: list[Step] = [
        ScaffoldProject(starter=wf.project.starter, path=wf.project.path, name=wf.name),
        WriteParams(wf.project.params, allow_new=wf.project.allow_new_params),
        CommitProject(
            branch=wf.repo.branch,
            message=wf.repo.message,
            author=Identity(wf.repo.author_name, wf.repo.author_email),
            name=wf.name,
        ),
        PushProject(
            location=remote_location(wf.repo.remote, spec.base_dir),
            branch=wf.repo.branch,
            token_env=wf.repo.token_env,
        ),
        SyncWorkspaceRepo(
            name=wf.name, target=settings, token_env=wf.repo.token_env,
            git={"provider": wf.repo.provider, "git_username": wf.repo.git_username,
                 "git_email": wf.repo.git_email},
        ),
    ]
    uploads = [
        UploadData(i, source=d.source, target=d.target, target_settings=settings)
        for i, d in enumerate(wf.data)
    ]
    steps += uploads
    steps.append(
        DeployNotebook(
            name=wf.name,
            data_target=wf.data[0].target if wf.data else None,
            target_settings=settings,
        )
    )
    data_keys = tuple(u.key for u in uploads)
    runs = [
        RunNotebook(
            name=r.name, params=r.params, timeout_minutes=r.timeout_minutes, data_steps=data_keys
        )
        for r in wf.runs
    ]
    # A run may first wait for the runs that write the same outputs (bricksmith.run_outputs):
    # the engine's deadline for it covers theirs too.
    total = sum(run.timeout_s for run in runs)
    for run in runs:
        run.timeout_s = total
    return steps + runs


def build_graph(spec: LoadedSpec, target: str) -> StepGraph:
    """The workflow's steps; ``mlflow.<run>`` after each run when the spec enables MLflow."""
    return graph_of(build_steps(spec, target) + mlflow_steps(spec, target))


def graph_of(steps: list[Step]) -> StepGraph:
    """The DAG of ``steps``. Raises ValueError on a duplicate key, an unknown dependency or a
    cycle (a bug in a step's ``deps``, never a user error)."""
    import networkx as nx

    dag = nx.DiGraph()
    dag.add_nodes_from((step.key, {"step": step}) for step in steps)
    if len(dag) != len(steps):
        seen: set[str] = set()
        twice = next(s.key for s in steps if s.key in seen or seen.add(s.key))
        raise ValueError(f"two steps have the key {twice!r}")
    edges = [(dep, step.key) for step in steps for dep in step.deps]
    unknown = next(((dep, key) for dep, key in edges if dep not in dag), None)
    if unknown:
        raise ValueError(f"step {unknown[1]!r} depends on unknown step {unknown[0]!r}")
    dag.add_edges_from(edges)
    return _graph(dag)


def _graph(dag: nx.DiGraph) -> StepGraph:
    """The StepGraph of ``dag``, whose nodes carry their ``step``. Raises ValueError when it
    has a cycle."""
    import networkx as nx

    try:
        order = tuple(nx.lexicographical_topological_sort(dag))
    except nx.NetworkXUnfeasible:
        cycle = sorted(edge[0] for edge in nx.find_cycle(dag))
        raise ValueError(f"the steps have a cycle: {cycle}") from None
    steps = {key: dag.nodes[key]["step"] for key in order}
    succ = dag.succ
    return StepGraph(
        steps=steps,
        order=order,
        deps={key: tuple(dict.fromkeys(step.deps)) for key, step in steps.items()},
        dependents={key: tuple(sorted(succ[key])) for key in order},
        dag=dag,
    )


def select(graph: StepGraph, patterns: Iterable[str], option: str) -> frozenset[str]:
    """The steps of ``graph`` that ``patterns`` name (exact keys or shell globs such as
    ``run.*``). Raises :class:`UsageError` (the steps listed) when a pattern names none."""
    from fnmatch import fnmatchcase

    chosen: set[str] = set()
    for pattern in patterns:
        # a key as written is itself (``data.upload[0]`` holds glob brackets)
        found = [pattern] if pattern in graph.steps else [
            key for key in graph.order if fnmatchcase(key, pattern)]
        if not found:
            from difflib import get_close_matches

            from bricksmith.errors import UsageError

            close = get_close_matches(pattern, graph.order, n=1)
            maybe = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"{option} {pattern!r} names no step of this workflow",
                hint=f"{maybe}the steps are: {', '.join(graph.order)} (a glob such as "
                "'run.*' names several)")
        chosen.update(found)
    return frozenset(chosen)


# Last status of a step -> (fill, border). A step without a record (never run) is "pending".
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "succeeded": ("#c8e6c9", "#2e7d32"),
    "failed": ("#ffcdd2", "#c62828"),
    "running": ("#fff9c4", "#f9a825"),
    "pending": ("#eeeeee", "#9e9e9e"),
}
STATUS_LABELS = {"pending": "pending / never run"}


def status_of(key: str, statuses: dict[str, str]) -> str:
    """The colour class of ``key``: its recorded status, or ``pending`` when unknown."""
    status = statuses.get(key, "pending")
    return status if status in STATUS_COLOURS else "pending"


def to_mermaid(graph: StepGraph, statuses: dict[str, str] | None = None) -> str:
    """The DAG as a Mermaid flowchart; with ``statuses``, nodes coloured by their last status
    (a step without one is pending) and a legend."""
    ids = {key: f"s{i}" for i, key in enumerate(graph.order)}
    lines = ["flowchart LR"]
    for key, node_id in ids.items():
        label = key.replace('"', "#quot;")
        lines.append(f'    {node_id}["{label}"]')
    edges = [(dep, key) for key in graph.order for dep in graph.deps[key]]
    for a, b in sorted(edges, key=lambda e: (ids[e[0]], ids[e[1]])):
        lines.append(f"    {ids[a]} --> {ids[b]}")
    if statuses is not None:
        for status, (fill, border) in STATUS_COLOURS.items():
            lines.append(f"    classDef {status} fill:{fill},stroke:{border}")
        for key, node_id in ids.items():
            lines.append(f"    class {node_id} {status_of(key, statuses)}")
        lines.append('    subgraph legend["last status"]')
        for status in STATUS_COLOURS:
            label = STATUS_LABELS.get(status, status)
            lines.append(f'        legend_{status}["{label}"]:::{status}')
        lines.append("    end")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    """``text`` as a DOT double-quoted string (backslashes, quotes and line breaks escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(graph: StepGraph, statuses: dict[str, str] | None = None) -> str:
    """The DAG in Graphviz DOT; with ``statuses``, nodes filled by their last status (a step
    without one is pending) and a legend cluster. Pure text: render it with graphviz."""
    lines = [
        "digraph bricksmith {",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica", fillcolor="#ffffff"];',
    ]
    for key in graph.order:
        attrs = f"label={_dot_quote(key)}"
        if statuses is not None:
            status = status_of(key, statuses)
            fill, border = STATUS_COLOURS[status]
            attrs += f', fillcolor="{fill}", color="{border}", tooltip="{status}"'
        lines.append(f"    {_dot_quote(key)} [{attrs}];")
    for key in graph.order:
        for dep in graph.deps[key]:
            lines.append(f"    {_dot_quote(dep)} -> {_dot_quote(key)};")
    if statuses is not None:
        lines += [
            "    subgraph cluster_legend {",
            '        label="last status"; fontname="Helvetica"; style="rounded"; color="#bdbdbd";',
        ]
        legend_ids = []
        for status, (fill, border) in STATUS_COLOURS.items():
            node_id = f"legend {status}"
            while node_id in graph.steps:  # never collide with a step key
                node_id += "_"
            legend_ids.append(_dot_quote(node_id))
            label = STATUS_LABELS.get(status, status)
            lines.append(
                f'        {legend_ids[-1]} [label={_dot_quote(label)}, fillcolor="{fill}", '
                f'color="{border}"];'
            )
        # invisible edges lay the legend out in one row
        lines.append(f"        {' -> '.join(legend_ids)} [style=invis];")
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"
