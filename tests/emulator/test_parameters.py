"""Task parameters as the emulated cluster's notebook gets them."""

import json

from bricksmith.emulator.executor import translate_parameter
from bricksmith.emulator.paths import Layout


def test_paths_in_plain_parameters_are_translated_json_objects_are_not(tmp_path):
    layout = Layout(tmp_path / 'it\'s "root"')
    assert translate_parameter(layout, "/dbfs/FileStore/data") == (
        f"{layout.root}/dbfs/FileStore/data"
    )
    params = json.dumps({"out": "/dbfs/x", "label": 'say "hi"', "n": "007"})
    assert translate_parameter(layout, params) == params  # exact, and still valid JSON
    assert translate_parameter(layout, "{not json /dbfs/x") == "{not json " + (
        f"{layout.root}/dbfs/x"
    )
