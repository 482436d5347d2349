"""``load_spec``: the one entry point from a workflow file to a validated :class:`Workflow`.

Steps: load the YAML with positions -> resolve ``${env.X}``/``${var.X}`` -> validate against the
Pydantic models (strict) and, when they refuse it, the JSON schema (Draft 2020-12) too -> semantic
checks. Every problem of every
step is collected and raised together as one :class:`SpecError`, each diagnostic naming file,
line, column and key path, with a hint. Validation reads files but never writes any.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from bricksmith.errors import Diagnostic, SpecError, UsageError
from bricksmith.pathfacts import PathFacts
from bricksmith.spec.cache import SpecCache
from bricksmith.spec.checks import semantic_diagnostics
from bricksmith.spec.interpolate import resolve_with_origins, stringify
from bricksmith.spec.loader import Document, KeyPath, parse_document, read_source, render_path
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
from bricksmith.spec.secret_params import secret_param_diagnostics

__all__ = ["LoadedSpec", "load_spec", "validate_document"]

# Error types of Workflow._cross_checks: the semantic checks report them with exact paths.
_CROSS_CHECK_TYPES = frozenset({"unknown_target", "duplicate_run_name"})

QUOTES_HINT = (
    "remove the quotes (or the ${...} reference gave text where a number or boolean is needed)"
)

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


@dataclass(frozen=True)
class LoadedSpec:
    """A validated workflow and where it came from."""

    workflow: Workflow
    path: Path  # the spec file, resolved
    base_dir: Path  # its folder: relative paths in the spec are relative to it
    document: Document  # the interpolated data; positions only when parsed now (not cached)
    # what it was validated from: a digest of the file's bytes and one of the environment
    # variable and --var values they refer to (SpecCache.inputs_digest), and the file-system
    # facts the checks relied on ({path: kind}); a plan memo is keyed by them
    source_sha256: str = ""
    inputs_sha256: str = ""
    facts: dict[str, str] = field(default_factory=dict)

    @cached_property
    def project_dir(self) -> Path:
        """The Kedro project's folder."""
        return self.resolve_path(self.workflow.project.path)

    def resolve_path(self, rel: str | os.PathLike[str]) -> Path:
        """``rel`` relative to the spec folder, normalized (``..`` collapsed, no symlinks read).

        An absolute ``rel`` is returned normalized as is.
        """
        return Path(os.path.normpath(self.base_dir / rel))

    def get_target(self, name: str | None = None) -> tuple[str, LocalTarget | DatabricksTarget]:
        """The target called ``name`` (``--target``), or the spec's default target.

        Raises :class:`UsageError` with a did-you-mean for an unknown name.
        """
        chosen = name or self.workflow.target
        targets = self.workflow.targets
        if chosen in targets:
            return chosen, targets[chosen]
        known = ", ".join(targets)
        close = difflib.get_close_matches(chosen, list(targets), n=1)
        hint = (f"did you mean --target {close[0]}? " if close else "") + f"defined: {known}"
        raise UsageError(f"unknown target {chosen!r}: {self.path} defines {known}", hint=hint)


def load_spec(
    path: str | os.PathLike[str],
    *,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    target: str | None = None,
) -> LoadedSpec:
    """Load, interpolate and validate the workflow spec at ``path``.

    ``variables``: ``--var NAME=VALUE`` overrides (raw strings). ``environ``: the environment
    for ``${env.NAME}`` (default: ``os.environ``). ``target``: the target in use (default: the
    spec's); an environment variable only another target reads may be unset (its reference is
    left as written). Raises :class:`SpecError` listing every problem found.
    """
    spec_path = Path(path)
    environ = os.environ if environ is None else environ
    raw = read_source(spec_path)
    resolved = spec_path.resolve()
    base_dir = resolved.parent
    cache = SpecCache.default()
    written = cache.lookup(raw, environ, variables) if cache else None
    origin = {
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "inputs_sha256": SpecCache.inputs_digest(raw, environ, variables),
    }
    if written is not None:
        loaded = _revalidate(Document(file=str(spec_path), data=written), resolved,
                             environ=environ, variables=variables, target=target)
        if loaded is not None:
            return replace(loaded, **origin)
    document = parse_document(raw, str(spec_path))
    data, diagnostics = _resolve(document, environ=environ, variables=variables)
    diagnostics, deferred = _defer_other_targets(diagnostics, data, target)
    facts = PathFacts()
    workflow, more = validate_document(replace(document, data=data), base_dir,
                                       flagged=diagnostics, facts=facts)
    diagnostics = _sorted(diagnostics + [d for d in more if d.path not in deferred])
    if deferred and not diagnostics:
        workflow = Workflow.model_validate(data)  # what the deferred references left out
    if diagnostics or workflow is None:
        raise SpecError(diagnostics)
    if cache:
        cache.store(raw, document.data, environ, variables)
    document = replace(document, data=data)
    return LoadedSpec(workflow=workflow, path=resolved, base_dir=base_dir, document=document,
                      facts=facts.seen, **origin)


def _revalidate(
    written: Document,
    resolved: Path,
    *,
    environ: Mapping[str, str],
    variables: Mapping[str, str] | None,
    target: str | None,
) -> LoadedSpec | None:
    """A spec the cache says was accepted as written: interpolate it, build the models and run
    the semantic checks again (their inputs may have changed); None on any problem, for the
    full validation to report with positions."""
    data, diagnostics = _resolve(written, environ=environ, variables=variables)
    diagnostics, deferred = _defer_other_targets(diagnostics, data, target)
    if diagnostics:
        return None
    document = replace(written, data=data)
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError:
        return None
    facts = PathFacts()
    if [d for d in semantic_diagnostics(document, resolved.parent, facts)
            if d.path not in deferred]:
        return None
    return LoadedSpec(workflow=workflow, path=resolved, base_dir=resolved.parent,
                      document=document, facts=facts.seen)


def _resolve(
    document: Document, *, environ: Mapping[str, str], variables: Mapping[str, str] | None
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """Interpolate; params that take a value from the environment are refused (a refused
    param's unset variable is not reported as well)."""
    resolution = resolve_with_origins(document, environ=environ, variables=variables)
    refused = secret_param_diagnostics(document, resolution.env_paths)
    paths = {d.path for d in refused}
    kept = [d for d in resolution.diagnostics if d.path not in paths]
    return resolution.data, kept + refused


def _defer_other_targets(
    diagnostics: list[Diagnostic], data: Any, target: str | None
) -> tuple[list[Diagnostic], set[str]]:
    """(diagnostics, deferred paths): unset environment variables read only by targets other
    than the one in use are not errors now (``plan --target local`` needs no Databricks
    cluster id); their references stay as written."""
    chosen = target or (data.get("target") if isinstance(data, dict) else None) or "local"
    if not isinstance(chosen, str):
        return diagnostics, set()
    kept, deferred = [], set()
    for diag in diagnostics:
        path = diag.path or ""
        other_target = path.startswith("targets.") and not path.startswith(f"targets.{chosen}.")
        if other_target and diag.message.startswith("environment variable "):
            deferred.add(diag.path)
        else:
            kept.append(diag)
    return kept, deferred


def validate_document(
    document: Document,
    base_dir: Path,
    *,
    flagged: list[Diagnostic] | None = None,
    facts: PathFacts | None = None,
) -> tuple[Workflow | None, list[Diagnostic]]:
    """Validate an interpolated document: JSON schema, Pydantic, semantic checks.

    ``flagged``: problems already reported (interpolation); nothing more is said about their
    paths. Returns the workflow (None when the models refused it) and the new diagnostics.
    """
    seen = _Flagged(flagged or [])
    out: list[Diagnostic] = []

    workflow: Workflow | None = None
    try:
        workflow = Workflow.model_validate(document.data)
    except ValidationError as exc:
        pydantic_diags = _dedupe_same_path(
            [d for error in exc.errors() if (d := _pydantic_diagnostic(document, error))]
        )
        for diag in pydantic_diags:
            if not seen.related(diag.path):
                out.append(diag)
        seen.add_all(pydantic_diags)

    if workflow is None:
        # The strict models accept only what the schema (generated from them) accepts, so the
        # schema is asked only to explain a refusal in its own words (it is slow on big specs).
        schema_diags = _dedupe_same_path(_schema_diagnostics(document, seen))
        for diag in schema_diags:
            if not seen.related(diag.path):
                out.append(diag)
        seen.add_all(out)

    for diag in semantic_diagnostics(document, base_dir, facts):
        if not seen.inside(diag.path):
            out.append(diag)
    if out:
        workflow = None
    return workflow, out


# ------------------------------------------------------------------------------ bookkeeping


class _Flagged:
    """Rendered key paths that already have a diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.paths: set[str] = set()
        self.add_all(diagnostics)

    def add_all(self, diagnostics: list[Diagnostic]) -> None:
        self.paths.update(d.path for d in diagnostics if d.path)

    def inside(self, path: str) -> bool:
        """``path`` or one of its ancestors is flagged."""
        return any(_is_within(path, flagged) for flagged in self.paths)

    def related(self, path: str) -> bool:
        """``path`` is flagged, inside a flagged path, or holds one."""
        if not path:
            return False
        return any(_is_within(path, f) or _is_within(f, path) for f in self.paths)


def _is_within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith((ancestor + ".", ancestor + "["))


def _dedupe_same_path(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    paths: set[str] = set()
    for diag in diagnostics:
        if diag.path and diag.path in paths:
            continue
        paths.add(diag.path)
        out.append(diag)
    return out


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    big = 10**9
    return sorted(
        diagnostics,
        key=lambda d: (d.line if d.line is not None else big,
                       d.column if d.column is not None else big),
    )


# ------------------------------------------------------------------------- type descriptions


def _unwrap(tp: Any) -> tuple[Any, str | None]:
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
        if _is_union(tp):
            members = [m for m in get_args(tp) if m is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, discriminator


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _describe_type(tp: Any) -> str:
    tp, discriminator = _unwrap(tp)
    if _is_model(tp) or discriminator is not None:
        return "a mapping"
    if _is_union(tp):
        words = list(dict.fromkeys(_describe_type(m) for m in get_args(tp) if m is not type(None)))
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


def _describe_value(value: Any) -> str:
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


_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing (null)",
}


# ---------------------------------------------------------------------- pydantic diagnostics


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
        tp, discriminator = _unwrap(tp)
        if seg == "[key]":
            is_key = True
            tp = key_type
            continue
        if _is_union(tp):
            members = [m for m in get_args(tp) if m is not type(None)]
            chosen = None
            for member in members:
                if discriminator and _is_model(member):
                    tag_field = member.model_fields.get(discriminator)
                    tag_type = _unwrap(tag_field.annotation)[0] if tag_field else None
                    if get_origin(tag_type) is Literal and seg in get_args(tag_type):
                        chosen = member
                elif getattr(member, "__name__", None) == seg:
                    chosen = member
            if chosen is not None:
                if not discriminator:
                    union, union_depth = tp, len(path)
                tp = chosen
                continue
        if _is_model(tp):
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
    tp, discriminator = _unwrap(tp)
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


def _place_of(path: KeyPath) -> str:
    parent = render_path(path[:-1])
    return f"under {parent}:" if parent else "at the top level"


def _pydantic_diagnostic(document: Document, error: Mapping[str, Any]) -> Diagnostic | None:
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
        if located.model is not None and _misspelt(document, path, located.model.model_fields):
            return None  # the unknown key's "did you mean" says it
        example = _field_example(located)
        if path == ("version",):
            hint = "add `version: 1` at the top of the file"
        elif example is not None and not isinstance(example, dict | list):
            hint = f"add `{name}: {example}` {_place_of(path)}"
        else:
            hint = f"add `{name}:` {_place_of(path)}"
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
            hint = f"add `{disc}: {fitting[0]}` {_place_of((*path, disc))}"
        else:
            hint = "add " + " or ".join(f"`{disc}: {t}`" for t in tags) + (
                f" {_place_of((*path, disc))}")
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
            path, f"expected {ctx.get('expected')}, got {_describe_value(value)}",
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
        expected = _describe_type(located.union if located.union is not None else located.type)
        message = f"expected {expected}, got {_describe_value(value)}"
        return document.diagnostic(path, message, _type_hint(expected, value, path, located),
                                   at_value=True)

    message = str(error.get("msg", kind)).replace("Input should", "The value should", 1)
    return document.diagnostic(path, message, _field_description(located), at_value=True)


def _fitting_tags(located: _Located, value: Any) -> list[str]:
    """Tags of the union members that accept every key ``value`` has."""
    if not isinstance(value, dict) or not located.discriminator or not _is_union(located.type):
        return []
    fitting: list[str] = []
    for member in get_args(located.type):
        if _is_model(member) and set(value) <= set(member.model_fields):
            tag_type = _unwrap(member.model_fields[located.discriminator].annotation)[0]
            fitting.extend(str(a) for a in get_args(tag_type))
    return fitting


def _tags(located: _Located) -> list[str]:
    tp = located.type
    if not _is_union(tp) or not located.discriminator:
        return []
    tags: list[str] = []
    for member in get_args(tp):
        if _is_model(member) and located.discriminator in member.model_fields:
            tag_type = _unwrap(member.model_fields[located.discriminator].annotation)[0]
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
        single = f"write a single value here, not {_describe_value(value)}"
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
    if located.discriminator and _is_union(tp):
        tags = _tags(located)
        if isinstance(value, str) and value in tags:
            return f"write `{located.discriminator}: {value}` on the next line, indented"
        return (f"write `{located.discriminator}: " + " or ".join(tags)
                + "` and the target's settings on the next lines, indented")
    if not _is_model(tp):
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


def _misspelt(document: Document, path: KeyPath, known: Any) -> bool:
    """The missing key ``path[-1]`` is there, misspelt: an unknown key beside it is reported
    with "did you mean" it (as :func:`_unknown_key` words it), which says everything."""
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


# ---------------------------------------------------------------------- schema diagnostics


def _schema_diagnostics(document: Document, seen: _Flagged) -> list[Diagnostic]:
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
                                f"add `{key}:` {_place_of((*path, key))}")
            for key in error.validator_value
            if key not in instance and not _misspelt(document, (*path, key), known)
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
        expected = " or ".join(_JSON_TYPES.get(w, w) for w in wanted)
        hint = None
        if isinstance(instance, str) and set(wanted) & {"number", "integer", "boolean"}:
            hint = QUOTES_HINT
        return [document.diagnostic(path, f"expected {expected}, got {_describe_value(instance)}",
                                    hint or schema.get("description"), at_value=True)]
    if kind == "const" and path == ("version",):
        return [document.diagnostic(path, f"unsupported spec version {instance!r}",
                                    "only version 1 is supported: write `version: 1`",
                                    at_value=True)]
    if kind == "pattern":
        hint = schema.get("description") or f"it must match {schema['pattern']}"
        return [document.diagnostic(path, f"invalid value {_describe_value(instance)}", hint,
                                    at_value=True)]
    return [document.diagnostic(path, error.message, schema.get("description"), at_value=True)]
