"""The JSON schema's pass of validation: when the models refuse a spec, the schema (Draft
2020-12, generated from them) explains the refusal in its own words too, as diagnostics.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from bricksmith.errors import Diagnostic
from bricksmith.spec.describe import JSON_TYPES, QUOTES_HINT, describe_value, misspelt, place_of
from bricksmith.spec.loader import Document
from bricksmith.spec.positions import KeyPath, render_path

if TYPE_CHECKING:
    from bricksmith.spec.validate import Flagged


def schema_diagnostics(document: Document, seen: Flagged) -> list[Diagnostic]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    from bricksmith.spec.schema import json_schema

    validator = Draft202012Validator(json_schema())
    out: list[Diagnostic] = []
    for error in validator.iter_errors(document.data):
        if seen.related(render_path(error.absolute_path)):
            continue  # already explained (a oneOf's branches would only add noise)
        while error.context:
            error = best_match(error.context)
        out.extend(_schema_error_diagnostics(document, error))
    return out


def _schema_error_diagnostics(document: Document, error: Any) -> list[Diagnostic]:
    path: KeyPath = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    if kind == "required" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        return [
            document.diagnostic((*path, key), f"missing required key {key!r}",
                                f"add `{key}:` {place_of((*path, key))}")
            for key in error.validator_value
            if key not in instance and not misspelt(document, (*path, key), known)
        ]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        out = []
        for key in instance:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else (
                "valid keys here: " + ", ".join(known) if known else None)
            out.append(document.diagnostic((*path, key), f"unknown key {key!r}", hint))
        return out
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [
            error.validator_value]
        expected = " or ".join(JSON_TYPES.get(w, w) for w in wanted)
        hint = None
        if isinstance(instance, str) and set(wanted) & {"number", "integer", "boolean"}:
            hint = QUOTES_HINT
        return [document.diagnostic(path, f"expected {expected}, got {describe_value(instance)}",
                                    hint or schema.get("description"), at_value=True)]
    if kind == "const" and path == ("version",):
        return [document.diagnostic(path, f"unsupported spec version {instance!r}",
                                    "only version 1 is supported: write `version: 1`",
                                    at_value=True)]
    if kind == "pattern":
        hint = schema.get("description") or f"it must match {schema['pattern']}"
        return [document.diagnostic(path, f"invalid value {describe_value(instance)}", hint,
                                    at_value=True)]
    return [document.diagnostic(path, error.message, schema.get("description"), at_value=True)]
