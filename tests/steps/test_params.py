from bricksmith.steps.run import kedro_params, load_metrics


def test_run_params_become_kedro_params_strings():
    assert kedro_params({"train_fraction": 0.7, "model": {"k": 1, "on": True}, "s": "x"}) == [
        "train_fraction=0.7", "model.k=1", "model.on=true", "s=x"
    ]


def test_metrics_come_from_a_json_object_exit_value():
    assert load_metrics('{"accuracy": 0.9}') == {"accuracy": 0.9}
    assert load_metrics("not json") == {} and load_metrics("[1]") == {} and load_metrics(None) == {}
