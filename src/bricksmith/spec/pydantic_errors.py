"""The models' pass of validation: a Pydantic error as a diagnostic that says, in the spec's
words, what is wrong at which key (file, line, column) and how to fix it.

Pydantic's ``loc`` is followed through the models' types to the key in the document (union
tags skipped), so a missing key names where to add it, an unknown key suggests the one meant
(or the section it belongs in), and a wrong type says what was expected and what was found.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel

from bricksmith.errors import Diagnostic
from bricksmith.spec.describe import (
    QUOTES_HINT,
    describe_type,
    describe_value,
    is_model,
    is_union,
    misspelt,
    place_of,
    unwrap,
)
from bricksmith.spec.interpolate import stringify
from bricksmith.spec.loader import Document
from bricksmith.spec.models import (
    NAME_PATTERN,
    DatabricksTarget,
    DataSync,
    LocalTarget,
    Name,
    Project,
    Repo,
    Run,
    Workflow,
)
from bricksmith.spec.positions import KeyPath

# Error types of Workflow._cross_checks: the semantic checks report them with exact paths.
_CROSS_CHECK_TYPES = frozenset({"unknown_target", "duplicate_run_name"})

# Names (workflow, runs, targets) explain their rules in their description.
_NAME_HINT: str | None = next(
    (m.description for m in getattr(Name, "__metadata__", ()) if getattr(m, "description", None)),
    None,
)

# Where each model lives in a spec, for "this key belongs under ..." hints.
_MODEL_PLACES: tuple[tuple[type[BaseModel], str], ...] = (
    (Workflow, "the top level"),
    (Project, "project:"),
    (Repo, "repo:"),
    (LocalTarget, "a local target (targets.<name>:)"),
    (DatabricksTarget, "a databricks target (targets.<name>:)"),
    (DataSync, "a data: item"),
    (Run, "a runs: item"),
)


@dataclass
class _Located:
    path: KeyPath  # data path
    type: Any  # the (unwrapped) type expected at the path
    model: type[BaseModel] | None  # the model whose field the last segment is (or is not)
    field: str | None  # that field's name
    is_key: bool  # the error is about a mapping key (dict key validation)
    union: Any  # a plain union whose member was being tried at this path
    discriminator: str | None  # set when the type at the path is a tagged union


def _locate(loc: tuple[str | int, ...]) -> _Located:
    """Map a Pydantic ``loc`` to a data path, skipping union tags, following the model types."""
    tp: Any = Workflow
    path: list[str | int] = []
    model: type[BaseModel] | None = None
    field: str | None = None
    key_type: Any = Any
    is_key = False
    union: Any = None
    union_depth = -1
    discriminator: str | None = None
    for seg in loc:
        tp, discriminator = unwrap(tp)
        if seg == "[key]":
            is_key = True
            tp = key_type
            continue
        if is_union(tp):
            members = [m for m in get_args(tp) if m is not type(None)]
            chosen = None
            for member in members:
                if discriminator and is_model(member):
                    tag_field = member.model_fields.get(discriminator)
                    tag_type = unwrap(tag_field.annotation)[0] if tag_field else None
                    if get_origin(tag_type) is Literal and seg in get_args(tag_type):
                        chosen = member
                elif getattr(member, "__name__", None) == seg:
                    chosen = member
            if chosen is not None:
                if not discriminator:
                    union, union_depth = tp, len(path)
                tp = chosen
                continue
        if is_model(tp):
            model, field = tp, str(seg)
            info = tp.model_fields.get(str(seg))
            tp = info.annotation if info is not None else Any
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            key_type, tp = get_args(tp)
        else:
            tp = Any
        path.append(seg)
    tp, discriminator = unwrap(tp)
    return _Located(
        path=tuple(path),
        type=tp,
        model=model if field is not None and path and path[-1] == field else None,
        field=field if path and path[-1] == field else None,
        is_key=is_key,
        union=union if union_depth == len(path) else None,
        discriminator=discriminator,
    )


def _field_description(located: _Located) -> str | None:
    if located.model is None or located.field is None:
        return None
    info = located.model.model_fields.get(located.field)
    if info is None:
        return None
    if info.description:
        return info.description
    for meta in getattr(info, "metadata", []):
        pattern = getattr(meta, "pattern", None)
        if pattern:
            return f"it must match {pattern}"
    return None


def _field_example(located: _Located) -> Any:
    if located.model is None or located.field is None:
        return None
    info = located.model.model_fields.get(located.field)
    if info is not None and info.examples:
        return info.examples[0]
    return None


def pydantic_diagnostic(document: Document, error: Mapping[str, Any]) -> Diagnostic | None:
    kind = error["type"]
    if kind in _CROSS_CHECK_TYPES:
        return None
    loc = tuple(error["loc"])
    located = _locate(loc)
    path = located.path
    value = error.get("input")
    ctx = error.get("ctx") or {}

    if kind == "missing":
        name = path[-1] if path else ""
        if located.model is not None and misspelt(document, path, located.model.model_fields):
            return None  # the unknown key's "did you mean" says it
        example = _field_example(located)
        if path == ("version",):
            hint = "add `version: 1` at the top of the file"
        elif example is not None and not isinstance(example, dict | list):
            hint = f"add `{name}: {example}` {place_of(path)}"
        else:
            hint = f"add `{name}:` {place_of(path)}"
        description = _field_description(located)
        if description:
            hint += f" ({description})"
        return document.diagnostic(path, f"missing required key {name!r}", hint)

    if kind == "extra_forbidden":
        return _unknown_key(document, path, located.model)

    if kind == "union_tag_not_found":
        disc = str(ctx.get("discriminator", "")).strip("'") or located.discriminator or "backend"
        tags = _tags(located)
        fitting = _fitting_tags(located, value)
        if len(fitting) == 1:
            hint = f"add `{disc}: {fitting[0]}` {place_of((*path, disc))}"
        else:
            hint = "add " + " or ".join(f"`{disc}: {t}`" for t in tags) + (
                f" {place_of((*path, disc))}")
        return document.diagnostic((*path, disc), f"missing required key {disc!r}", hint)

    if kind == "union_tag_invalid":
        disc = str(ctx.get("discriminator", "")).strip("'") or located.discriminator or "backend"
        tag = ctx.get("tag")
        tags = _tags(located)
        close = difflib.get_close_matches(str(tag), tags, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + (
            f"{disc} is one of: {', '.join(tags)}")
        return document.diagnostic((*path, disc), f"unknown {disc} {tag!r}", hint, at_value=True)

    if kind == "literal_error" and path == ("version",):
        return document.diagnostic(
            path, f"unsupported spec version {value!r}",
            "only version 1 is supported: write `version: 1`", at_value=True,
        )

    if kind == "literal_error":
        return document.diagnostic(
            path, f"expected {ctx.get('expected')}, got {describe_value(value)}",
            _field_description(located), at_value=True,
        )

    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if located.is_key or pattern == NAME_PATTERN:
            message, hint = f"invalid name {value!r}", _NAME_HINT
        else:
            message = f"invalid value {value!r}"
            description = _field_description(located)
            hint = f"{description} (pattern: {pattern})" if description else (
                f"it must match {pattern}")
        return document.diagnostic(path, message, hint, at_value=not located.is_key)

    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "greater than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        limit = next(iter(ctx.values()), "?")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return document.diagnostic(path, f"must be {words} {limit}, got {value!r}",
                                   _field_description(located), at_value=True)

    if kind == "string_too_short":
        return document.diagnostic(path, "must not be empty", _field_description(located),
                                   at_value=True)

    if kind.endswith(("_type", "_parsing")) or kind in ("int_from_float", "model_attributes_type"):
        expected = describe_type(located.union if located.union is not None else located.type)
        message = f"expected {expected}, got {describe_value(value)}"
        return document.diagnostic(path, message, _type_hint(expected, value, path, located),
                                   at_value=True)

    message = str(error.get("msg", kind)).replace("Input should", "The value should", 1)
    return document.diagnostic(path, message, _field_description(located), at_value=True)


def _fitting_tags(located: _Located, value: Any) -> list[str]:
    """Tags of the union members that accept every key ``value`` has."""
    if not isinstance(value, dict) or not located.discriminator or not is_union(located.type):
        return []
    fitting: list[str] = []
    for member in get_args(located.type):
        if is_model(member) and set(value) <= set(member.model_fields):
            tag_type = unwrap(member.model_fields[located.discriminator].annotation)[0]
            fitting.extend(str(a) for a in get_args(tag_type))
    return fitting


def _tags(located: _Located) -> list[str]:
    tp = located.type
    if not is_union(tp) or not located.discriminator:
        return []
    tags: list[str] = []
    for member in get_args(tp):
        if is_model(member) and located.discriminator in member.model_fields:
            tag_type = unwrap(member.model_fields[located.discriminator].annotation)[0]
            tags.extend(str(a) for a in get_args(tag_type))
    return tags


def _type_hint(expected: str, value: Any, path: KeyPath, located: _Located) -> str | None:
    key = path[-1] if path and isinstance(path[-1], str) else None
    if expected == "a string" and isinstance(value, bool | int | float) and key:
        shown = ("true" if value else "false") if isinstance(value, bool) else value
        return f'quote it to make it text: {key}: "{shown}"'
    if _quoted_scalar(value) and any(
        word in expected for word in ("a number", "an integer", "true or false")
    ):
        return QUOTES_HINT
    if expected == "a mapping" and value is None:
        return "nothing follows the key: indent the keys that belong under it, or remove it"
    if expected == "a list" and isinstance(value, dict):
        return "start each item of the list with '- '"
    if expected == "a list" and value is None:
        return "nothing follows the key: add items starting with '- ', or remove it"
    if expected == "a mapping" and isinstance(value, list):
        return "write `key: value` lines here, without '- ' in front"
    if expected == "a mapping" and value is not None:
        section = _section_hint(located, value, path)
        if section:
            return section
    description = _field_description(located)
    if isinstance(value, list | dict) and "a mapping" not in expected and "a list" not in expected:
        single = f"write a single value here, not {describe_value(value)}"
        return f"{single} ({description})" if description else single
    return description


def _quoted_scalar(value: Any) -> bool:
    """``value`` is text that YAML would read as a number or boolean without its quotes."""
    if not isinstance(value, str):
        return False
    try:
        return isinstance(yaml.safe_load(value), int | float)  # bool is an int
    except yaml.YAMLError:
        return False


def _section_hint(located: _Located, value: Any, path: KeyPath) -> str | None:
    """A single value where a section belongs (``repo: ../x.git``, ``- baseline``): what the
    section looks like."""
    tp = located.type
    if located.discriminator and is_union(tp):
        tags = _tags(located)
        if isinstance(value, str) and value in tags:
            return f"write `{located.discriminator}: {value}` on the next line, indented"
        return (f"write `{located.discriminator}: " + " or ".join(tags)
                + "` and the target's settings on the next lines, indented")
    if not is_model(tp):
        return None
    fields = ", ".join(tp.model_fields)
    required = [name for name, info in tp.model_fields.items() if info.is_required()]
    shown = stringify(value)
    if required and isinstance(path[-1] if path else None, int):
        more = "".join(f", then `{name}:` below it" for name in required[1:])
        return f"write the item as `- {required[0]}: {shown}`{more} (its keys: {fields})"
    if len(required) == 1:
        return (f"write `{required[0]}: {shown}` on the next line, indented "
                f"(its keys: {fields})")
    return f"write its keys on the next lines, indented, as `key: value`: {fields}"


def _unknown_key(
    document: Document, path: KeyPath, model: type[BaseModel] | None
) -> Diagnostic:
    name = str(path[-1]) if path else ""
    fields = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(name, fields, n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    else:
        elsewhere = [place for other, place in _MODEL_PLACES
                     if other is not model and name in other.model_fields]
        if elsewhere:
            hint = f"{name!r} belongs in {' or '.join(elsewhere)}"
        else:
            hint = "valid keys here: " + ", ".join(fields) if fields else None
    return document.diagnostic(path, f"unknown key {name!r}", hint)
