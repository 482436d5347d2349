import yaml

from bricksmith.steps.params import render_params
from bricksmith.steps.run import load_metrics

PARAMS = """\
# Parameters of the iris pipeline
train_fraction: 0.8  # share of rows used for training
random_state: 3
target_column: species
"""


def test_scalar_change_keeps_comments_and_order():
    new = render_params(PARAMS, yaml.safe_load(PARAMS), {"train_fraction": 0.7})
    assert new == PARAMS.replace("0.8", "0.7")


def test_new_or_nested_keys_are_merged():
    new = render_params(PARAMS, yaml.safe_load(PARAMS), {"model": {"k": 1}, "random_state": 3})
    assert yaml.safe_load(new) == {
        "train_fraction": 0.8, "random_state": 3, "target_column": "species", "model": {"k": 1}
    }


def test_nothing_wanted_changes_nothing():
    assert render_params(PARAMS, yaml.safe_load(PARAMS), {"random_state": 3}) == PARAMS


def test_metrics_come_from_a_json_object_exit_value():
    assert load_metrics('{"accuracy": 0.9}') == {"accuracy": 0.9}
    assert load_metrics("not json") == {} and load_metrics("[1]") == {} and load_metrics(None) == {}
