from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from bricksmith.spec.interpolate import interpolate
from bricksmith.spec.loader import parse_document
from bricksmith.spec.schema import SCHEMA_DIALECT, json_schema, render_schema

from .conftest import EXAMPLE, EXAMPLE_ENV, MINIMAL

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "workflow.schema.json"


def example_data() -> dict:
    document = parse_document(EXAMPLE.encode(), "example.yaml")
    return interpolate(document, environ=EXAMPLE_ENV).data


def errors(data) -> list:
    return list(Draft202012Validator(json_schema()).iter_errors(data))


def test_checked_in_schema_is_up_to_date():
    assert SCHEMA_FILE.is_file(), "workflow.schema.json is missing at the repository root"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_schema(), (
        "workflow.schema.json is stale: regenerate it with "
        "`python -m bricksmith.spec.schema > workflow.schema.json` (or `bricksmith schema`)"
    )


def test_render_is_deterministic_sorted_and_ends_with_newline():
    text = render_schema()
    assert text == render_schema()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    parsed = json.loads(text)
    assert json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text
    assert text.splitlines()[1].startswith('  "')  # indent 2


def test_json_schema_returns_a_fresh_dict():
    first = json_schema()
    first["title"] = "changed"
    assert json_schema()["title"] == "bricksmith workflow"


def test_schema_is_valid_draft_2020_12():
    schema = json_schema()
    assert schema["$schema"] == SCHEMA_DIALECT
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["version", "name", "project", "repo"]
    assert schema["additionalProperties"] is False


def test_backend_is_required_in_every_target_variant():
    defs = json_schema()["$defs"]
    assert "backend" in defs["LocalTarget"]["required"]
    assert "backend" in defs["DatabricksTarget"]["required"]


def test_schema_accepts_the_design_example():
    assert errors(example_data()) == []


def test_schema_accepts_minimal():
    assert errors(parse_document(MINIMAL.encode()).data) == []


@pytest.mark.parametrize(
    ("change", "validator", "path"),
    [
        (lambda d: d.update(version=2), "const", ["version"]),
        (lambda d: d.update(runz=[]), "additionalProperties", []),
        (lambda d: d["targets"]["local"].pop("backend"), "oneOf", ["targets", "local"]),
        (lambda d: d["targets"]["dev"].update(backend="databrick"), "oneOf", ["targets", "dev"]),
        (lambda d: d["project"].pop("path"), "required", ["project"]),
        (lambda d: d["runs"][0].update(timeout_minutes="5"), "type",
         ["runs", 0, "timeout_minutes"]),
        (lambda d: d["data"][0].update(target="s3://x"), "pattern", ["data", 0, "target"]),
        (lambda d: d["runs"][1].update(name="bad name"), "pattern", ["runs", 1, "name"]),
    ],
)
def test_schema_rejects_wrong_specs(change, validator, path):
    data = example_data()
    change(data)
    found = errors(data)
    assert [(e.validator, list(e.absolute_path)) for e in found] == [(validator, path)]


def test_schema_has_descriptions_for_editors():
    schema = json_schema()
    assert "Only 1 exists" in schema["properties"]["version"]["description"]
    project = schema["$defs"]["Project"]["properties"]
    assert "databricks-iris" in project["starter"]["description"]
    assert project["path"]["examples"] == ["iris-databricks"]


def test_spec_with_schema_comment_parses():
    text = textwrap.dedent(
        """\
        # yaml-language-server: $schema=../workflow.schema.json
        version: 1
        """
    )
    assert parse_document(text.encode()).data == {"version": 1}
