"""Compile a validated spec into the DAG of steps.

The planner and the engine walk a :class:`StepGraph`: the steps, their dependencies and one
fixed topological order, computed once with the standard library. ``StepGraph.to_networkx()``
gives the same DAG as a networkx DiGraph (nodes carry ``step``) for rendering and analysis;
networkx is imported only then, since importing it costs more than planning 10,000 steps.

    project.scaffold ─► project.params ─► git.commit ─► git.push ─► workspace.repo ─┐
            └────────► data.upload[i] ──────────────────────────────────────────────┼─► run.<name>
                       notebook.deploy ─────────────────────────────────────────────┘
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bricksmith.backends.git import Identity, remote_location
from bricksmith.spec import LoadedSpec
from bricksmith.steps.base import Step
from bricksmith.steps.data import UploadData
from bricksmith.steps.git import CommitProject, PushProject
from bricksmith.steps.notebook import DeployNotebook
from bricksmith.steps.params import WriteParams
from bricksmith.steps.run import RunNotebook
from bricksmith.steps.scaffold import ScaffoldProject
from bricksmith.steps.workspace import SyncWorkspaceRepo

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class StepGraph:
    """A DAG of steps: ``order`` is topological, ties broken by key (deterministic)."""

    steps: dict[str, Step]
    order: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __contains__(self, key: object) -> bool:
        return key in self.steps

    def step(self, key: str) -> Step:
        return self.steps[key]

    def to_networkx(self) -> nx.DiGraph:
        import networkx as nx

        graph = nx.DiGraph()
        for key in self.order:
            graph.add_node(key, step=self.steps[key])
        graph.add_edges_from((dep, key) for key in self.order for dep in self.deps[key])
        return graph


def workspace_settings(spec: LoadedSpec, target: str) -> dict:
    """The target settings that decide where things land (they are inputs of those steps)."""
    settings = spec.workflow.targets[target].model_dump(mode="json")
    return {"target": target, **settings}


def build_steps(spec: LoadedSpec, target: str) -> list[Step]:
    wf = spec.workflow
    settings = workspace_settings(spec, target)
    steps: list[Step] = [
        ScaffoldProject(starter=wf.project.starter, path=wf.project.path, name=wf.name),
        WriteParams(wf.project.params),
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
        SyncWorkspaceRepo(name=wf.name, target=settings, token_env=wf.repo.token_env),
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
    steps += [
        RunNotebook(
            name=r.name, params=r.params, timeout_minutes=r.timeout_minutes, data_steps=data_keys
        )
        for r in wf.runs
    ]
    return steps


def build_graph(spec: LoadedSpec, target: str) -> StepGraph:
    return graph_of(build_steps(spec, target))


def graph_of(steps: list[Step]) -> StepGraph:
    """The DAG of ``steps``. Raises ValueError on a duplicate key, an unknown dependency or a
    cycle (a bug in a step's ``deps``, never a user error)."""
    by_key: dict[str, Step] = {}
    for step in steps:
        if step.key in by_key:
            raise ValueError(f"two steps have the key {step.key!r}")
        by_key[step.key] = step
    deps = {key: tuple(step.deps) for key, step in by_key.items()}
    dependents: dict[str, list[str]] = {key: [] for key in by_key}
    for key, needs in deps.items():
        for dep in needs:
            if dep not in by_key:
                raise ValueError(f"step {key!r} depends on unknown step {dep!r}")
            dependents[dep].append(key)
    waiting = {key: len(needs) for key, needs in deps.items()}
    ready = [key for key, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:  # Kahn's algorithm, smallest key first among the ready ones
        key = heapq.heappop(ready)
        order.append(key)
        for after in dependents[key]:
            waiting[after] -= 1
            if waiting[after] == 0:
                heapq.heappush(ready, after)
    if len(order) != len(by_key):
        raise ValueError(f"the steps have a cycle: {sorted(set(by_key) - set(order))}")
    return StepGraph(
        steps=by_key,
        order=tuple(order),
        deps=deps,
        dependents={key: tuple(sorted(after)) for key, after in dependents.items()},
    )


def to_mermaid(graph: StepGraph, statuses: dict[str, str] | None = None) -> str:
    """The DAG as a Mermaid flowchart; nodes classed by their last status when given."""
    ids = {key: f"s{i}" for i, key in enumerate(graph.order)}
    lines = ["flowchart LR"]
    for key, node_id in ids.items():
        lines.append(f'    {node_id}["{key}"]')
    edges = [(dep, key) for key in graph.order for dep in graph.deps[key]]
    for a, b in sorted(edges, key=lambda e: (ids[e[0]], ids[e[1]])):
        lines.append(f"    {ids[a]} --> {ids[b]}")
    if statuses:
        colours = {"succeeded": "#c8e6c9", "failed": "#ffcdd2", "running": "#fff9c4"}
        for status, colour in colours.items():
            lines.append(f"    classDef {status} fill:{colour}")
        for key, node_id in ids.items():
            if statuses.get(key) in colours:
                lines.append(f"    class {node_id} {statuses[key]}")
    return "\n".join(lines) + "\n"
