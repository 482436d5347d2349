"""``${env.NAME}`` and ``${var.NAME}`` references inside string values.

- ``${env.NAME}``: the environment the caller passes in (never ``os.environ`` implicitly);
  always a string. An unset variable is an error naming it.
- ``${var.NAME}``: the ``variables:`` section, overridden or extended by ``--var NAME=VALUE``.
  Variable values may use ``${env.NAME}`` but not other variables.
- A string that is exactly one reference takes the referenced value's type (``${var.tf}`` with
  ``tf: 0.7`` is the float 0.7); references embedded in text are stringified (YAML spelling:
  ``true``, ``0.7``).
- ``$${`` is a literal ``${`` (for example Kedro/OmegaConf resolvers in parameters:
  ``$${runtime_params:data_root}``). Substituted values are not scanned again.
- Keys are never interpolated.
- Every key path whose value came from the environment (``${env.NAME}`` directly, or a
  ``${var.NAME}`` whose value used one) is recorded (:func:`resolve_with_origins`): such values
  are secrets by origin, and some places must not hold them (``spec.checks.secret_params``).

``--var`` values are typed like YAML would (``--var tf=0.7`` is a float, ``true``/``false`` are
booleans, decimal integers are integers), with two safety rules: when the variable is declared
with a string value, the override stays a string; YAML 1.1 surprises (``0123`` as octal,
``yes``/``on`` as booleans, ``1_000``) stay strings. A ``--var`` that is neither declared in
``variables:`` nor used anywhere in the spec is an error (it is almost always a typo).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from bricksmith.errors import Diagnostic, SpecError
from bricksmith.spec.loader import Document
from bricksmith.spec.positions import KeyPath, render_path

__all__ = [
    "ENV_NAME_PATTERN",
    "VAR_NAME_PATTERN",
    "Resolution",
    "interpolate",
    "parse_override",
    "resolve_references",
    "resolve_with_origins",
]

ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
VAR_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]*"
_ENV_NAME = re.compile(rf"^{ENV_NAME_PATTERN}$")
_VAR_NAME = re.compile(rf"^{VAR_NAME_PATTERN}$")
_NAMESPACES = ("env", "var")
_DECIMAL_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_ESCAPE_HINT = "write $${ for a literal ${ (for example Kedro/OmegaConf resolvers)"


def interpolate(
    document: Document,
    *,
    environ: Mapping[str, str],
    variables: Mapping[str, str] | None = None,
) -> Document:
    """Return ``document`` with every reference resolved; raise :class:`SpecError` otherwise.

    ``variables`` are the ``--var NAME=VALUE`` overrides (raw strings, typed here).
    """
    data, diagnostics = resolve_references(document, environ=environ, variables=variables)
    if diagnostics:
        raise SpecError(diagnostics)
    return replace(document, data=data)


def resolve_references(
    document: Document,
    *,
    environ: Mapping[str, str],
    variables: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """Resolve references, collecting every problem instead of stopping at the first.

    Strings with errors are left as written. The returned data's ``variables`` section holds
    the effective values (declared values with overrides applied).
    """
    resolution = resolve_with_origins(document, environ=environ, variables=variables)
    return resolution.data, resolution.diagnostics


@dataclass(frozen=True)
class Resolution:
    data: dict[str, Any]
    diagnostics: list[Diagnostic]
    # key paths (outside ``variables:``) whose value used ${env.NAME}, directly or through a
    # variable; a value that is or holds an env-derived variable is recorded at its own path
    env_paths: frozenset[KeyPath] = frozenset()


def resolve_with_origins(
    document: Document,
    *,
    environ: Mapping[str, str],
    variables: Mapping[str, str] | None = None,
) -> Resolution:
    """:func:`resolve_references`, also telling which key paths took values from the
    environment."""
    resolver = _Resolver(document, environ)
    data = document.data
    declared_raw = data.get("variables")
    declared = declared_raw if isinstance(declared_raw, dict) else {}

    # 1. Declared variables: they may use ${env.X}, not ${var.X}.
    effective: dict[str, Any] = {}
    for name, value in declared.items():
        before = len(resolver.env_paths)
        effective[name] = resolver.resolve(value, ("variables", name), allow_vars=False)
        if len(resolver.env_paths) > before:
            resolver.env_vars.add(name)
    resolver.env_paths.clear()  # the variables themselves are not places that hold secrets

    # 2. --var overrides.
    overrides = dict(variables or {})
    for name, raw in overrides.items():
        if not isinstance(name, str) or not _VAR_NAME.match(name):
            resolver.problem(
                (), f"--var {name}={raw}: {name!r} is not a valid variable name",
                "names are letters, digits, '_' and '-', starting with a letter or '_'",
                position=False,
            )
            continue
        effective[name] = parse_override(str(raw), declared.get(name))
        resolver.env_vars.discard(name)  # the command line's value, not the environment's
    resolver.variables = effective

    # 3. The rest of the document.
    result: dict[str, Any] = {}
    for key, value in data.items():
        if key == "variables" and isinstance(declared_raw, dict):
            result[key] = effective
        else:
            result[key] = resolver.resolve(value, (key,), allow_vars=True)
    if "variables" not in result and overrides:
        result["variables"] = effective

    # 4. Overrides that nothing declares or uses are typos.
    for name in overrides:
        if name in declared or name in resolver.used_vars or not _VAR_NAME.match(str(name)):
            continue
        candidates = sorted(set(declared) | resolver.used_vars)
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = (f"did you mean --var {close[0]}=...?" if close
                else "declare it under variables: or use it as ${var." + name + "}")
        resolver.problem(
            (), f"--var {name}: the spec neither declares nor uses a variable named {name!r}",
            hint, position=False,
        )
    return Resolution(result, resolver.diagnostics, frozenset(resolver.env_paths))




def parse_override(raw: str, declared: Any = None) -> Any:
    """Type a ``--var`` value: bool, int or float when it clearly is one, else the string.

    When the declared value is a string the override stays a string.
    """
    if isinstance(declared, str):
        return raw
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, bool):
        return value if raw.strip().lower() in ("true", "false") else raw
    if isinstance(value, int):
        return value if _DECIMAL_INT.match(raw.strip()) else raw
    if isinstance(value, float):
        return value if "_" not in raw else raw
    return raw


def stringify(value: Any) -> str:
    """A value as it appears inside text, spelled the YAML way."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class _Ref:
    namespace: str
    name: str
    raw: str


class _Resolver:
    def __init__(self, document: Document, environ: Mapping[str, str]) -> None:
        self.document = document
        self.environ = environ
        self.variables: dict[str, Any] = {}
        self.used_vars: set[str] = set()
        self.diagnostics: list[Diagnostic] = []
        self.env_vars: set[str] = set()  # variables whose value used ${env.NAME}
        self.env_paths: set[KeyPath] = set()  # where a value used ${env.NAME}

    def problem(
        self, path: KeyPath, message: str, hint: str | None, *, position: bool = True
    ) -> None:
        if position:
            self.diagnostics.append(self.document.diagnostic(path, message, hint, at_value=True))
        else:
            self.diagnostics.append(
                Diagnostic(file=self.document.file, line=None, column=None,
                           path=render_path(path), message=message, hint=hint)
            )

    def resolve(self, value: Any, path: KeyPath, *, allow_vars: bool) -> Any:
        if isinstance(value, str):
            return self._string(value, path, allow_vars=allow_vars)
        if isinstance(value, dict):
            return {k: self.resolve(v, (*path, k), allow_vars=allow_vars) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, (*path, i), allow_vars=allow_vars) for i, v in enumerate(value)]
        return value

    def _string(self, text: str, path: KeyPath, *, allow_vars: bool) -> Any:
        if "${" not in text:
            return text
        parts, failed = self._scan(text, path)
        values: list[Any] = []
        for part in parts:
            if isinstance(part, str):
                values.append(part)
                continue
            if part.namespace == "env" or part.name in self.env_vars:
                self.env_paths.add(path)
            ok, value = self._lookup(part, path, allow_vars=allow_vars)
            failed = failed or not ok
            values.append(value)
        if failed:
            return text
        if len(parts) == 1 and isinstance(parts[0], _Ref):
            return values[0]
        return "".join(stringify(v) for v in values)

    def _scan(self, text: str, path: KeyPath) -> tuple[list[str | _Ref], bool]:
        """Split ``text`` into literal strings and references; report malformed references.

        Returns the parts and whether any reference was malformed (then the caller keeps the
        text as written, but the well-formed references are still looked up and reported).
        """
        parts: list[str | _Ref] = []
        literal: list[str] = []
        failed = False
        i = 0
        while i < len(text):
            if text.startswith("$${", i):
                literal.append("${")
                i += 3
                continue
            if not text.startswith("${", i):
                literal.append(text[i])
                i += 1
                continue
            end = text.find("}", i + 2)
            if end == -1:
                self.problem(path, f"unterminated reference {text[i:]!r}: missing '}}'",
                             "close it: ${env.NAME} or ${var.NAME}; " + _ESCAPE_HINT)
                failed = True
                literal.append(text[i:])
                break
            raw = text[i:end + 1]
            ref = self._parse_ref(raw, path)
            if ref is None:
                failed = True
                literal.append(raw)
            else:
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(ref)
            i = end + 1
        if literal:
            parts.append("".join(literal))
        return parts, failed

    def _parse_ref(self, raw: str, path: KeyPath) -> _Ref | None:
        inner = raw[2:-1]
        namespace, dot, name = inner.partition(".")
        if not dot:
            self.problem(path, f"malformed reference {raw!r}: expected ${{env.NAME}} or "
                         "${var.NAME}", _ESCAPE_HINT)
            return None
        if namespace not in _NAMESPACES:
            close = difflib.get_close_matches(namespace, _NAMESPACES, n=1)
            hint = (f"did you mean ${{{close[0]}.{name}}}? " if close else "") + (
                "references are ${env.NAME} or ${var.NAME}; " + _ESCAPE_HINT)
            self.problem(path, f"unknown namespace {namespace!r} in {raw!r}", hint)
            return None
        pattern = _ENV_NAME if namespace == "env" else _VAR_NAME
        if not pattern.match(name):
            allowed = ("letters, digits and '_'" if namespace == "env"
                       else "letters, digits, '_' and '-'")
            self.problem(path, f"malformed {namespace} name {name!r} in {raw!r}",
                         f"names are {allowed}, starting with a letter or '_'")
            return None
        return _Ref(namespace, name, raw)

    def _lookup(self, ref: _Ref, path: KeyPath, *, allow_vars: bool) -> tuple[bool, Any]:
        if ref.namespace == "env":
            if ref.name in self.environ:
                return True, self.environ[ref.name]
            close = difflib.get_close_matches(ref.name, list(self.environ), n=1)
            hint = f"export {ref.name}=... before running bricksmith"
            if close:
                hint += f" (did you mean {close[0]}, which is set?)"
            self.problem(path, f"environment variable {ref.name} is not set", hint)
            return False, None
        if not allow_vars:
            self.problem(path, f"{ref.raw}: a variable cannot refer to another variable",
                         "use a literal value or ${env.NAME} in variables:")
            return False, None
        self.used_vars.add(ref.name)
        if ref.name in self.variables:
            return True, self.variables[ref.name]
        close = difflib.get_close_matches(ref.name, list(self.variables), n=1)
        hint = (f"did you mean ${{var.{close[0]}}}?" if close
                else f"declare it under variables: or pass --var {ref.name}=VALUE")
        self.problem(path, f"unknown variable {ref.name!r} in {ref.raw!r}", hint)
        return False, None
