"""Compile a validated spec into the DAG of steps (a networkx DiGraph; nodes carry ``step``).

    project.scaffold ─► project.params ─► git.commit ─► git.push ─► workspace.repo ─┐
            └────────► data.upload[i] ──────────────────────────────────────────────┼─► run.<name>
                       notebook.deploy ─────────────────────────────────────────────┘
"""

from __future__ import annotations

import networkx as nx

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


def build_graph(spec: LoadedSpec, target: str) -> nx.DiGraph:
    return graph_of(build_steps(spec, target))


def graph_of(steps: list[Step]) -> nx.DiGraph:
    """The DAG of ``steps``: one node per key (carrying the step), an edge per dependency."""
    graph = nx.DiGraph()
    for step in steps:
        graph.add_node(step.key, step=step)
    for step in steps:
        for dep in step.deps:
            graph.add_edge(dep, step.key)
    return graph


def to_mermaid(graph: nx.DiGraph, statuses: dict[str, str] | None = None) -> str:
    """The DAG as a Mermaid flowchart; nodes classed by their last status when given."""
    ids = {key: f"s{i}" for i, key in enumerate(nx.lexicographical_topological_sort(graph))}
    lines = ["flowchart LR"]
    for key, node_id in ids.items():
        lines.append(f'    {node_id}["{key}"]')
    for a, b in sorted(graph.edges, key=lambda e: (ids[e[0]], ids[e[1]])):
        lines.append(f"    {ids[a]} --> {ids[b]}")
    if statuses:
        colours = {"succeeded": "#c8e6c9", "failed": "#ffcdd2", "running": "#fff9c4"}
        for status, colour in colours.items():
            lines.append(f"    classDef {status} fill:{colour}")
        for key, node_id in ids.items():
            if statuses.get(key) in colours:
                lines.append(f"    class {node_id} {statuses[key]}")
    return "\n".join(lines) + "\n"
