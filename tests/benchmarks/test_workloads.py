"""The benchmark workloads are what they claim: a spec of N steps, a binary tree of N stages."""

from benchmarks import workloads
from bricksmith import api


def test_a_workflow_spec_has_exactly_the_steps_asked_for(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.kedro]\n")
    for steps in (8, 57):
        spec = workloads.workflow_spec(tmp_path / f"w{steps}", steps, project)
        graph = api.load(spec).graph
        assert len(graph) == steps
        assert sum(key.startswith("data.upload") for key in graph) == steps - workloads.FIXED_STEPS


def test_the_competitor_dags_are_binary_trees(tmp_path):
    assert workloads.binary_tree(5) == [(1, None), (2, 1), (3, 1), (4, 2), (5, 2)]
    snakefile = workloads.snakefile(tmp_path / "snake", 7).read_text()
    assert snakefile.count("\nrule s") == 7 and 'input: "out/3.txt"' in snakefile
