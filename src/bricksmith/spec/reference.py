"""The spec reference (``docs/spec-reference.md``) rendered from the JSON schema.

``render_reference(json_schema())``: one section per model (the top level first, then nested
models in the order a spec meets them), each with an anchor and a table of its fields: type,
default, example, description. Pure: no I/O; the key order of ``schema`` is kept.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["REGENERATE", "render_reference"]

REGENERATE = "bricksmith schema --reference > docs/spec-reference.md"
_ROOT = "workflow"


def render_reference(schema: dict[str, Any]) -> str:
    """The Markdown reference of every field of ``schema`` (a workflow JSON schema)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    places = _places(schema, defs)
    order = [_ROOT, *places, *sorted(set(defs) - set(places))]
    lines = [
        "# Workflow spec reference",
        "",
        f"<!-- Generated from the JSON schema by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "Every key a workflow spec (YAML) may hold, generated from `workflow.schema.json`. "
        "Unknown keys are errors. Any string may use `${env.NAME}` (an environment variable) "
        "or `${var.NAME}` (from `variables:` or `--var NAME=VALUE`); relative paths are "
        "relative to the spec file. See `specs/iris.yaml` for a complete example.",
        "",
        "## Contents",
        "",
    ]
    for name in order:
        lines.append(f"- [{_title(name, schema)}](#{_anchor(name)})")
    for name in order:
        node = schema if name == _ROOT else defs[name]
        lines += ["", *_section(name, node, schema, places.get(name, []))]
    return "\n".join(lines) + "\n"


def _section(name: str, node: dict[str, Any], schema: dict[str, Any], at: list[str]) -> list[str]:
    lines = [f'<a id="{_anchor(name)}"></a>', "", f"## {_title(name, schema)}", ""]
    if node.get("description"):
        lines += [_text(node["description"]), ""]
    if at:
        lines += ["In a spec at " + ", ".join(_code(p) for p in at) + ".", ""]
    props: dict[str, Any] = node.get("properties", {})
    if not props:
        return [*lines, "No fields."]
    lines += ["| Field | Type | Default | Example | Description |", "|---|---|---|---|---|"]
    required = node.get("required", [])
    defs = schema.get("$defs", {})
    for field, prop in props.items():
        cells = [
            _code(field),
            _type(prop),
            "**required**" if field in required else _default(prop),
            _example(prop),
            _text(_description(prop, defs)) or _selects(field, prop, name),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _places(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, list[str]]:
    """Each model reached from the top level -> the spec paths where it appears, in order."""
    places: dict[str, list[str]] = {}

    def visit(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[-1]
            first = name not in places
            if path not in places.setdefault(name, []):
                places[name].append(path)
            if first and name in defs:
                for field, prop in defs[name].get("properties", {}).items():
                    visit(prop, f"{path}.{field}")
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                visit(option, path)
        visit(node.get("items"), f"{path}[]")
        for value in node.get("patternProperties", {}).values():
            visit(value, f"{path}.<name>")
        visit(node.get("additionalProperties"), f"{path}.<key>")

    for field, prop in schema.get("properties", {}).items():
        visit(prop, field)
    return places


def _type(node: Any) -> str:
    """The type of a schema node in words, nested models linked to their sections."""
    if not isinstance(node, dict) or not node:
        return "any"
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in node:
            words = _or([_type(option) for option in node[key]])
            disc = node.get("discriminator", {}).get("propertyName")
            return words + (f" (by {_code(disc)})" if disc else "")
    if "const" in node:
        return f"{node.get('type', 'value')} {_code(_plain(node['const']))} only"
    if "enum" in node:
        return "one of " + ", ".join(_code(_plain(v)) for v in node["enum"])
    kind = node.get("type", "any")
    if isinstance(kind, list):
        return _or(kind)
    if kind == "array":
        return f"list of {_type(node.get('items'))}"
    if kind == "object":
        return _object_type(node)
    return kind + _constraints(node)


def _object_type(node: dict[str, Any]) -> str:
    patterns = node.get("patternProperties", {})
    if patterns:
        pattern, value = next(iter(patterns.items()))
        return f"map of name ({_code(pattern)}) to {_type(value)}"
    extra = node.get("additionalProperties", True)
    if isinstance(extra, dict):
        return f"map of string to {_type(extra)}"
    return "mapping (any keys and values)"


def _constraints(node: dict[str, Any]) -> str:
    parts = []
    if node.get("minLength") == 1:
        parts.append("not empty")
    elif "minLength" in node:
        parts.append(f"at least {node['minLength']} characters")
    if "pattern" in node:
        parts.append(f"matching {_code(node['pattern'])}")
    for key, sign in (("exclusiveMinimum", ">"), ("minimum", "≥"), ("maximum", "≤")):
        if key in node:
            parts.append(f"{sign} {node[key]}")
    return f" ({', '.join(parts)})" if parts else ""


def _default(node: dict[str, Any]) -> str:
    return _code(_plain(node["default"])) if "default" in node else "optional"


def _example(node: dict[str, Any]) -> str:
    """The schema's examples; else the constant, a non-null default or the nested model."""
    if node.get("examples"):
        return "<br>".join(_code(_plain(v)) for v in node["examples"])
    if "const" in node:
        return _code(_plain(node["const"]))
    if node.get("default") not in (None, {}, []):
        return _code(_plain(node["default"]))
    if "$ref" in node:
        return "see " + _type(node)
    return "—"


def _description(node: dict[str, Any], defs: dict[str, Any]) -> str:
    """The field's description; a bare reference takes its model's description."""
    if node.get("description"):
        return node["description"]
    ref = node.get("$ref", "")
    return defs.get(ref.rsplit("/", 1)[-1], {}).get("description", "")


def _selects(field: str, node: dict[str, Any], model: str) -> str:
    """The description of a tag without one: ``backend: local`` selects LocalTarget."""
    if "const" in node:
        tag = _code(f"{field}: {_plain(node['const'])}")
        return f"{tag} selects {model}."
    return ""


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _title(name: str, schema: dict[str, Any]) -> str:
    return "Top level" if name == _ROOT else name


def _anchor(name: str) -> str:
    return name.lower()


def _plain(value: Any) -> str:
    """A value as written in YAML: strings bare, the rest as (YAML-compatible) JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _code(text: str) -> str:
    """``text`` as an inline code span that is safe inside a table cell."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _text(text: str) -> str:
    """Plain text for a table cell: one line, no accidental HTML or Markdown."""
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("*", "\\*")):
        text = text.replace(char, escaped)
    if text.count("~") > 1:  # ~a~ would be struck through
        text = text.replace("~", "\\~")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "\\`")
    return " ".join(text.split())
