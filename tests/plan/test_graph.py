import random

import networkx as nx
import pytest

from bricksmith.plan.graph import STATUS_COLOURS, graph_of, to_dot, to_mermaid
from tests.engine.fakes import FakeStep


def random_dag(count: int, seed: int) -> list[FakeStep]:
    rng = random.Random(seed)
    keys = [f"s{i:03d}" for i in range(count)]
    steps = [
        FakeStep(key, deps=rng.sample(keys[:i], min(i, rng.randint(0, 3))))
        for i, key in enumerate(keys)
    ]
    rng.shuffle(steps)
    return steps


@pytest.mark.parametrize("seed", range(5))
def test_order_is_networkx_lexicographical_topological_order(seed):
    graph = graph_of(random_dag(60, seed))
    assert graph.order == tuple(nx.lexicographical_topological_sort(graph.to_networkx()))
    for key in graph.order:
        assert all(graph.order.index(dep) < graph.order.index(key) for dep in graph.deps[key])
        assert all(key in graph.deps[after] for after in graph.dependents[key])


def test_to_networkx_carries_the_steps_and_edges():
    a, b = FakeStep("a"), FakeStep("b", deps=["a"])
    nxg = graph_of([b, a]).to_networkx()
    assert nxg.nodes["b"]["step"] is b and list(nxg.edges) == [("a", "b")]


def test_bugs_in_step_dependencies_are_refused():
    with pytest.raises(ValueError, match="unknown step 'nope'"):
        graph_of([FakeStep("a", deps=["nope"])])
    with pytest.raises(ValueError, match="cycle"):
        graph_of([FakeStep("a", deps=["b"]), FakeStep("b", deps=["a"])])
    with pytest.raises(ValueError, match="two steps"):
        graph_of([FakeStep("a"), FakeStep("a")])


def test_mermaid_lists_every_step_and_edge():
    text = to_mermaid(graph_of([FakeStep("a"), FakeStep("b", deps=["a"])]), {"a": "failed"})
    assert 's0["a"]' in text and "s0 --> s1" in text and "class s0 failed" in text


def test_mermaid_colours_every_status_and_has_a_legend():
    graph = graph_of([FakeStep("a"), FakeStep("b", deps=["a"]), FakeStep("c", deps=["b"])])
    text = to_mermaid(graph, {"a": "succeeded", "b": "running"})
    assert "class s0 succeeded" in text and "class s1 running" in text
    assert "class s2 pending" in text  # never run
    assert "classDef failed fill:#ffcdd2" in text and 'subgraph legend["last status"]' in text
    assert "classDef" not in to_mermaid(graph)


def test_dot_lists_every_step_and_edge():
    graph = graph_of([FakeStep("a"), FakeStep("b", deps=["a"]), FakeStep("c", deps=["a", "b"])])
    text = to_dot(graph)
    assert text.startswith("digraph bricksmith {\n") and text.endswith("}\n")
    for key in "abc":
        assert f'"{key}" [label="{key}"' in text
    assert sorted(line.strip() for line in text.splitlines() if "->" in line) == [
        '"a" -> "b";',
        '"a" -> "c";',
        '"b" -> "c";',
    ]
    assert 'fillcolor="#c8e6c9"' not in text and "cluster_legend" not in text


def test_dot_colours_nodes_by_last_status_with_a_legend():
    steps = [FakeStep(k) for k in ("ok", "bad", "busy", "new", "odd")]
    text = to_dot(
        graph_of(steps), {"ok": "succeeded", "bad": "failed", "busy": "running", "odd": "unknown"}
    )
    expected = {
        "ok": STATUS_COLOURS["succeeded"],
        "bad": STATUS_COLOURS["failed"],
        "busy": STATUS_COLOURS["running"],
        "new": STATUS_COLOURS["pending"],
        "odd": STATUS_COLOURS["pending"],
    }
    for key, (fill, border) in expected.items():
        assert f'"{key}" [label="{key}", fillcolor="{fill}", color="{border}"' in text
    legend = text[text.index("subgraph cluster_legend") :]
    for status, (fill, _) in STATUS_COLOURS.items():
        assert f'fillcolor="{fill}"' in legend and status in legend
    assert "pending / never run" in legend


def test_dot_quotes_odd_keys():
    keys = ["run.split-70", "data.upload[0]", 'say "hi"', "back\\slash", "two\nlines"]
    graph = graph_of([FakeStep(keys[0]), *(FakeStep(k, deps=[keys[0]]) for k in keys[1:])])
    text = to_dot(graph, {})
    assert '"run.split-70" -> "data.upload[0]";' in text
    assert '"say \\"hi\\"" [label="say \\"hi\\""' in text
    assert '"back\\\\slash"' in text and '"two\\nlines"' in text
    assert "\ntwo" not in text  # no raw line break inside a string


def test_dot_legend_never_collides_with_a_step():
    text = to_dot(graph_of([FakeStep("legend pending")]), {"legend pending": "failed"})
    assert '"legend pending_" [label="pending / never run"' in text
    assert '"legend pending" [label="legend pending", fillcolor="#ffcdd2"' in text


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("", []),
        ("mlflow: {enabled: false}\n", []),
        ("mlflow: {experiment: iris}\n", ["mlflow.baseline", "mlflow.split-70"]),
    ],
)
def test_mlflow_steps_follow_each_run_only_when_enabled(tmp_path, section, expected):
    from bricksmith.plan.graph import build_graph
    from bricksmith.spec import load_spec

    spec = tmp_path / "workflow.yaml"
    spec.write_text(
        "version: 1\nname: iris\nproject: {path: iris}\nrepo: {remote: ../iris.git}\n"
        "runs: [{name: baseline}, {name: split-70, params: {train_fraction: 0.7}}]\n" + section
    )
    graph = build_graph(load_spec(spec, environ={}), "local")
    assert sorted(k for k in graph if k.startswith("mlflow.")) == expected
    for key in expected:
        assert graph.deps[key] == (f"run.{key.removeprefix('mlflow.')}",)
        assert graph.order.index(key) > graph.order.index(f"run.{key.removeprefix('mlflow.')}")


def test_generations_ancestors_descendants_and_subgraph_come_from_networkx():
    graph = graph_of([FakeStep("a"), FakeStep("b", deps=["a"]), FakeStep("c", deps=["a"]),
                      FakeStep("d", deps=["b", "c"]), FakeStep("e")])
    assert graph.generations == (("a", "e"), ("b", "c"), ("d",))
    assert graph.ancestors(["d"]) == {"a", "b", "c"}
    assert graph.descendants(["b"]) == {"d"} and graph.descendants(["a", "b"]) == {"c", "d"}
    part = graph.subgraph(["b"])
    assert part.order == ("a", "b") and part.dependents["a"] == ("b",)
    assert isinstance(part.to_networkx(), nx.DiGraph) and set(part.dag) == {"a", "b"}


def test_select_takes_keys_and_globs_and_lists_the_steps_when_nothing_matches():
    from bricksmith.errors import UsageError
    from bricksmith.plan.graph import select

    graph = graph_of([FakeStep("data.upload[0]"), FakeStep("run.a"), FakeStep("run.b")])
    assert select(graph, ["run.*"], "--only") == {"run.a", "run.b"}
    assert select(graph, ["data.upload[0]"], "--only") == {"data.upload[0]"}
    with pytest.raises(UsageError) as refused:
        select(graph, ["run.a", "run.c"], "--only")
    assert "--only 'run.c' names no step" in refused.value.message
    assert "data.upload[0], run.a, run.b" in refused.value.hint
