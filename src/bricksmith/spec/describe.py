"""The words a spec's diagnostics use: what a type or a value is ("an integer", "the string
'x'"), where a key belongs ("under repo:"), and whether a missing key is there misspelt.

Shared by the two passes that explain a refusal: the models' (:mod:`.pydantic_errors`) and the
JSON schema's (:mod:`.schema_errors`).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from bricksmith.spec.loader import Document
from bricksmith.spec.positions import KeyPath, render_path

QUOTES_HINT = (
    "remove the quotes (or the ${...} reference gave text where a number or boolean is needed)"
)


# ------------------------------------------------------------------------- type descriptions


def unwrap(tp: Any) -> tuple[Any, str | None]:
    """Strip Annotated/Optional; return the type and the discriminator of a tagged union."""
    discriminator = None
    while True:
        if get_origin(tp) is Annotated:
            base, *metadata = get_args(tp)
            for meta in metadata:
                found = getattr(meta, "discriminator", None)
                if isinstance(found, str):
                    discriminator = found
            tp = base
            continue
        if is_union(tp):
            members = [m for m in get_args(tp) if m is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, discriminator


def is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def describe_type(tp: Any) -> str:
    tp, discriminator = unwrap(tp)
    if is_model(tp) or discriminator is not None:
        return "a mapping"
    if is_union(tp):
        words = list(dict.fromkeys(describe_type(m) for m in get_args(tp) if m is not type(None)))
        return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
    if get_origin(tp) is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    origin = get_origin(tp) or tp
    if origin is dict or origin is typing.Mapping or origin is Mapping:
        return "a mapping"
    if origin is list:
        return "a list"
    return {
        str: "a string",
        bool: "true or false",
        int: "an integer",
        float: "a number",
    }.get(tp, "a value")


def describe_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing (null)",
}


def place_of(path: KeyPath) -> str:
    parent = render_path(path[:-1])
    return f"under {parent}:" if parent else "at the top level"


def misspelt(document: Document, path: KeyPath, known: Any) -> bool:
    """The missing key ``path[-1]`` is there, misspelt: an unknown key beside it is reported
    with "did you mean" it (as the models' pass words it), which says everything."""
    parent: Any = document.data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if not isinstance(parent, dict) or not path:
        return False
    fields = list(known)
    return any(
        key not in fields and difflib.get_close_matches(str(key), fields, n=1) == [path[-1]]
        for key in parent
    )
