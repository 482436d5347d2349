import random

import networkx as nx
import pytest

from bricksmith.plan.graph import graph_of, to_mermaid
from tests.engine.fakes import FakeStep


def random_dag(count: int, seed: int) -> list[FakeStep]:
    rng = random.Random(seed)
    keys = [f"s{i:03d}" for i in range(count)]
    steps = [FakeStep(key, deps=rng.sample(keys[:i], min(i, rng.randint(0, 3))))
             for i, key in enumerate(keys)]
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
