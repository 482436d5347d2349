"""The validated-spec cache: a hit skips the YAML parse and the JSON Schema pass, never a
check whose inputs changed, and never stores an environment value."""

import pytest

from bricksmith.errors import SpecError
from bricksmith.spec import validate
from bricksmith.spec.validate import load_spec

SPEC = """version: 1
name: iris
project: {path: iris, params: {train_fraction: 0.8}}
repo: {remote: iris.git}
targets: {local: {backend: local, root: "${env.BRICKSMITH_TEST_ROOT}"}}
target: local
runs: [{name: baseline}]
"""


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "workflow.yaml"
    path.write_text(SPEC)
    return path


def forbid_parsing(monkeypatch):
    def parse(*args, **kwargs):
        raise AssertionError("parsed again: the cache was not used")

    monkeypatch.setattr(validate, "parse_document", parse)


def test_the_second_load_uses_the_cache_and_gives_the_same_workflow(spec, monkeypatch):
    env = {"BRICKSMITH_TEST_ROOT": "state/a"}
    first = load_spec(spec, environ=env)
    forbid_parsing(monkeypatch)
    second = load_spec(spec, environ=env)
    assert second.workflow == first.workflow
    assert second.workflow.targets["local"].root == "state/a"


def test_a_changed_environment_value_or_var_misses(spec, monkeypatch):
    load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "state/a"})
    calls = []
    real = validate.parse_document
    monkeypatch.setattr(validate, "parse_document", lambda *a: calls.append(a) or real(*a))
    loaded = load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "state/b"})
    assert loaded.workflow.targets["local"].root == "state/b" and len(calls) == 1
    spec.write_text(SPEC.replace("name: baseline", "name: '${var.run}'"))
    load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "b"}, variables={"run": "one"})
    loaded = load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "b"}, variables={"run": "two"})
    assert loaded.workflow.runs[0].name == "two" and len(calls) == 3


def test_a_changed_file_misses_and_bad_input_is_reported_with_positions(spec, monkeypatch):
    load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "state/a"})
    spec.write_text(SPEC.replace("baseline", "Bad Name!"))
    with pytest.raises(SpecError) as raised:
        load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "state/a"})
    assert raised.value.diagnostics[0].line == 7


def test_a_hit_still_runs_the_checks_that_read_the_filesystem(spec, tmp_path):
    starter = tmp_path / "my-starter"
    (starter / "{{ cookiecutter.repo_name }}").mkdir(parents=True)
    (starter / "cookiecutter.json").write_text("{}")
    spec.write_text(SPEC.replace("project: {", "project: {starter: my-starter, "))
    env = {"BRICKSMITH_TEST_ROOT": "state/a"}
    load_spec(spec, environ=env)
    (starter / "cookiecutter.json").unlink()
    with pytest.raises(SpecError, match="starter") as raised:
        load_spec(spec, environ=env)
    assert raised.value.diagnostics[0].line is not None  # the full validation reported it


def test_entries_hold_the_spec_as_written_never_environment_values(spec, tmp_path):
    load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "s3cr3t-value-123"})
    entries = list((tmp_path / "cache/specs").glob("*.json"))
    assert len(entries) == 1
    text = entries[0].read_text()
    assert "${env.BRICKSMITH_TEST_ROOT}" in text and "s3cr3t-value-123" not in text


def test_nothing_is_cached_for_bad_input_or_when_turned_off(spec, tmp_path, monkeypatch):
    spec.write_text(SPEC.replace("version: 1", "version: 2"))
    with pytest.raises(SpecError):
        load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "a"})
    assert not (tmp_path / "cache/specs").exists()
    spec.write_text(SPEC)
    monkeypatch.setenv("BRICKSMITH_SPEC_CACHE", "0")
    load_spec(spec, environ={"BRICKSMITH_TEST_ROOT": "a"})
    assert not (tmp_path / "cache/specs").exists()
