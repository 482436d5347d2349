"""``load_spec``: the one entry point from a workflow file to a validated :class:`Workflow`.

Steps: load the YAML with positions -> resolve ``${env.X}``/``${var.X}`` -> validate against the
Pydantic models (strict) and, when they refuse it, the JSON schema (Draft 2020-12) too -> semantic
checks. Every problem of every
step is collected and raised together as one :class:`SpecError`, each diagnostic naming file,
line, column and key path, with a hint. Validation reads files but never writes any.

This module runs the passes in order and keeps which key paths already have a diagnostic; each
pass is a module of its own: :mod:`.interpolate`, :mod:`.pydantic_errors` (the models),
:mod:`.schema_errors` (the JSON schema), :mod:`.checks` (semantic checks),
:mod:`.secret_params`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bricksmith.errors import Diagnostic, SpecError, UsageError
from bricksmith.pathfacts import PathFacts
from bricksmith.spec.cache import SpecCache
from bricksmith.spec.checks import semantic_diagnostics
from bricksmith.spec.interpolate import resolve_with_origins
from bricksmith.spec.loader import Document, parse_document, read_source
from bricksmith.spec.models import DatabricksTarget, LocalTarget, Workflow
from bricksmith.spec.pydantic_errors import pydantic_diagnostic
from bricksmith.spec.schema_errors import schema_diagnostics
from bricksmith.spec.secret_params import secret_param_diagnostics

__all__ = ["LoadedSpec", "load_spec", "validate_document"]


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
    seen = Flagged(flagged or [])
    out: list[Diagnostic] = []

    workflow: Workflow | None = None
    try:
        workflow = Workflow.model_validate(document.data)
    except ValidationError as exc:
        pydantic_diags = _dedupe_same_path(
            [d for error in exc.errors() if (d := pydantic_diagnostic(document, error))]
        )
        for diag in pydantic_diags:
            if not seen.related(diag.path):
                out.append(diag)
        seen.add_all(pydantic_diags)

    if workflow is None:
        # The strict models accept only what the schema (generated from them) accepts, so the
        # schema is asked only to explain a refusal in its own words (it is slow on big specs).
        schema_diags = _dedupe_same_path(schema_diagnostics(document, seen))
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


class Flagged:
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
