from bricksmith.steps.run import load_metrics


def test_metrics_come_from_a_json_object_exit_value():
    assert load_metrics('{"accuracy": 0.9}') == {"accuracy": 0.9}
    assert load_metrics("not json") == {} and load_metrics("[1]") == {} and load_metrics(None) == {}
