"""run.<name>: the run's metrics from the notebook's exit value and what bricksmith's Kedro
hooks collected, with the source of each."""

from bricksmith.steps.run import EXIT_VALUE, describe_sources, merge_metrics


def test_exit_value_only_as_on_databricks():
    metrics, sources = merge_metrics({"accuracy": 0.9, "n": 3}, None)
    assert metrics == {"accuracy": 0.9, "n": 3}
    assert sources == {"accuracy": EXIT_VALUE, "n": EXIT_VALUE}


def test_collected_metrics_add_and_explain():
    collected = {
        "metrics": {"accuracy": 0.9, "n": 4, "r2": 0.5},
        "sources": {
            "accuracy": "free output 'accuracy'",
            "n": "free output 'n'",
            "r2": "dataset 'model_metrics' (json.JSONDataset)",
        },
    }
    metrics, sources = merge_metrics({"accuracy": 0.9, "n": 3}, collected)
    assert metrics == {"accuracy": 0.9, "n": 3, "r2": 0.5}  # the exit value wins
    assert sources == {
        "accuracy": "notebook exit value (free output 'accuracy')",
        "n": EXIT_VALUE,  # the hooks saw another value: no claim about where it came from
        "r2": "dataset 'model_metrics' (json.JSONDataset)",
    }


def test_nothing_at_all():
    assert merge_metrics({}, None) == ({}, {})
    assert merge_metrics({}, {"metrics": {"a": 1}}) == (
        {"a": 1},
        {"a": "collected by bricksmith's Kedro hooks"},
    )


def test_describe_sources_groups_metrics_by_source():
    text = describe_sources({"a": "x", "b": "y", "c": "x"})
    assert text == "x: a, c; y: b"
