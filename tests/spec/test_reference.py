from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from bricksmith.spec.reference import REGENERATE, render_reference
from bricksmith.spec.schema import json_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec-reference.md"


def sections(text: str) -> dict[str, str]:
    """Anchor id -> the text of its section."""
    parts = re.split(r'^<a id="([^"]+)"></a>$', text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def rows(section: str) -> dict[str, list[str]]:
    """Field name -> its table cells (Type, Default, Example, Description)."""
    found = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if match:
            found[match[1]] = re.split(r"(?<!\\) \| ", match[2])
    return found


def every_field(schema: dict) -> list[tuple[str, str, dict]]:
    """(section anchor, field, field schema) of the top level and every model."""
    models = [
        ("workflow", schema),
        *((name.lower(), node) for name, node in schema["$defs"].items()),
    ]
    return [
        (anchor, field, prop)
        for anchor, node in models
        for field, prop in node.get("properties", {}).items()
    ]


def test_checked_in_reference_is_up_to_date():
    assert DOC.is_file(), f"docs/spec-reference.md is missing: generate it with `{REGENERATE}`"
    assert DOC.read_text(encoding="utf-8") == render_reference(json_schema()), (
        f"docs/spec-reference.md is stale: regenerate it with `{REGENERATE}`"
    )


def test_every_field_of_the_schema_has_a_complete_row():
    schema = json_schema()
    found = sections(render_reference(schema))
    assert set(found) == {"workflow", *(name.lower() for name in schema["$defs"])}
    fields = every_field(schema)
    assert len(fields) > 30
    for anchor, field, prop in fields:
        table = rows(found[anchor])
        assert field in table, f"{anchor}.{field} is missing from the reference"
        kind, default, example, description = table[field]
        assert kind and default and description, f"{anchor}.{field}: {table[field]}"
        assert example != "—", f"{anchor}.{field} has no example: add examples=[...] to its Field"
        if "description" in prop:
            words = prop["description"].split()[0]
            assert words.split("'")[0] in description, (anchor, field)


def test_every_link_has_an_anchor():
    text = render_reference(json_schema())
    anchors = set(sections(text))
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= anchors


def test_sections_follow_the_spec_and_say_where_they_are():
    found = sections(render_reference(json_schema()))
    assert list(found)[:3] == ["workflow", "project", "repo"]
    assert "In a spec at `targets.<name>`." in found["localtarget"]
    assert "In a spec at `runs[]`." in found["run"]
    assert rows(found["workflow"])["version"][1] == "**required**"
    assert rows(found["repo"])["branch"][1:3] == ["`main`", "`main`"]


def test_render_is_pure():
    schema = json_schema()
    before = copy.deepcopy(schema)
    assert render_reference(schema) == render_reference(schema)
    assert schema == before


TOY = {
    "description": "Toy <root>.",
    "properties": {
        "pick": {"enum": ["a", "b"], "description": "One | two *stars*.", "default": "a"},
        "tags": {"type": "array", "items": {"type": "string"}, "examples": [["x"]]},
        "size": {"type": "integer", "minimum": 1, "maximum": 9, "examples": [3]},
        "child": {"$ref": "#/$defs/Child"},
        "loose": {},
    },
    "required": ["child"],
    "$defs": {
        "Child": {"description": "A child.", "properties": {"k": {"type": "string"}}},
        "Orphan": {"description": "Never used."},
    },
}


def test_types_defaults_and_escaping_on_a_toy_schema():
    text = render_reference(TOY)
    found = sections(text)
    top = rows(found["workflow"])
    assert top["pick"] == ["one of `a`, `b`", "`a`", "`a`", "One \\| two \\*stars\\*."]
    assert top["tags"][:3] == ["list of string", "optional", '`["x"]`']
    assert top["size"][0] == "integer (≥ 1, ≤ 9)"
    assert top["child"][:3] == ["[Child](#child)", "**required**", "see [Child](#child)"]
    assert top["loose"][0] == "any" and top["loose"][2] == "—"
    assert "Toy &lt;root&gt;." in found["workflow"]
    assert "No fields." in found["orphan"]
    assert "In a spec at `child`." in found["child"]


@pytest.mark.parametrize("value", ["a`b", "x|y"])
def test_code_spans_survive_backticks_and_pipes(value):
    text = render_reference({"properties": {"f": {"type": "string", "default": value}}})
    cell = rows(sections(text)["workflow"])["f"][1]
    assert cell in ("`` a`b ``", "`x\\|y`")
