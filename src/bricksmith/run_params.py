"""What a run asked Kedro for, what Kedro really used, and where a different value came from.

A run asks for ``project.params`` deep-merged with its own ``params`` (Kedro merges runtime
params into its config key by key: nested mappings merge, lists and scalars replace;
``OmegaConf.unsafe_merge`` in kedro/config/omegaconf_config.py). The notebook reports Kedro's
``context.params`` in its exit value (``bricksmith.notebook``); :func:`compare` finds every asked
key, at every nesting level, whose effective value differs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KeyPath = tuple[str, ...]
_MISSING = object()


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base``: mappings key by key at every level, anything else
    replaced (as Kedro merges runtime params into its parameters)."""
    merged: dict[str, Any] = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def leaves(tree: Mapping[str, Any], prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """(key path, value) of every value that is not a non-empty mapping."""
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaves(value, path)
        else:
            yield path, value


def dotted(path: KeyPath) -> str:
    return ".".join(path)


def lookup(tree: Any, path: KeyPath) -> Any:
    """The value at ``path`` in nested mappings, or ``_MISSING``."""
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return _MISSING
        tree = tree[key]
    return tree


def same_value(asked: Any, got: Any) -> bool:
    """Equal as Kedro values: types matter (``"007"`` is not ``7``, ``True`` is not ``1``), except
    that an int and a float of the same value are equal (JSON and YAML spell them alike)."""
    if isinstance(asked, bool) or isinstance(got, bool):
        return type(asked) is type(got) and asked == got
    if isinstance(asked, (int, float)) and isinstance(got, (int, float)):
        if isinstance(asked, float) and isinstance(got, float) and math.isnan(asked):
            return math.isnan(got)
        return asked == got
    if isinstance(asked, Mapping) and isinstance(got, Mapping):
        return asked.keys() == got.keys() and all(same_value(asked[k], got[k]) for k in asked)
    if isinstance(asked, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(asked) == len(got) and all(map(same_value, asked, got))
    return type(asked) is type(got) and asked == got


def resolved_by_kedro(value: Any) -> bool:
    """A value holding an OmegaConf interpolation (``${...}``): Kedro resolves it, so its
    effective value is not the text asked for."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, Mapping):
        return any(resolved_by_kedro(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(resolved_by_kedro(v) for v in value)
    return False


@dataclass(frozen=True)
class Mismatch:
    path: KeyPath
    asked: Any
    got: Any  # _MISSING when Kedro has no such key

    @property
    def missing(self) -> bool:
        return self.got is _MISSING

    def describe(self, winner: str | None = None) -> str:
        got = "no such parameter" if self.missing else show(self.got)
        where = ""
        if not self.missing:
            where = (
                f" (the value is set in {winner})"
                if winner
                else " (no parameters file of the project sets it: a hook, resolver or "
                "parameter model changed it)"
            )
        return f"{dotted(self.path)}: asked {show(self.asked)}, Kedro used {got}{where}"


def show(value: Any) -> str:
    """A value as JSON (strings quoted, so ``"007"`` and ``7`` read differently)."""
    return json.dumps(value, ensure_ascii=False, default=repr)


def compare(asked: Mapping[str, Any], effective: Mapping[str, Any]) -> list[Mismatch]:
    """Every asked key (leaf, at any depth) whose effective value differs; values Kedro
    resolves itself (``${...}``) are not compared."""
    found = []
    for path, value in leaves(asked):
        if resolved_by_kedro(value):
            continue
        got = lookup(effective, path)
        if got is _MISSING and isinstance(value, Mapping) and not value:
            continue  # an empty mapping adds nothing
        if got is _MISSING or not same_value(value, got):
            found.append(Mismatch(path, value, got))
    return found


def effective_of(asked: Mapping[str, Any], effective: Mapping[str, Any]) -> dict[str, Any]:
    """The asked keys (same nesting) with the values Kedro used; keys it lacks are left out."""
    out: dict[str, Any] = {}
    for path, _ in leaves(asked):
        got = lookup(effective, path)
        if got is _MISSING:
            continue
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = got
    return out


@dataclass(frozen=True)
class NotebookReport:
    """A run notebook's exit value, decoded."""

    metrics: dict[str, Any] = field(default_factory=dict)
    effective_params: dict[str, Any] | None = None  # None: not reported (an older notebook)
    partial: bool = False  # only the runtime params' keys were reported
    warnings: tuple[str, ...] = ()


def read_exit_value(exit_value: str | None) -> NotebookReport:
    """Decode ``{"metrics": ..., "effective_params": ..., "warnings": [...]}``, or the plain
    metrics object older notebooks exited with; anything else is an empty report."""
    if not exit_value:
        return NotebookReport()
    try:
        value = json.loads(exit_value)
    except ValueError:
        return NotebookReport()
    if not isinstance(value, dict):
        return NotebookReport()
    if not isinstance(value.get("metrics"), dict):  # the plain metrics of older notebooks
        return NotebookReport(metrics=value)
    params = value.get("effective_params")
    warnings = value.get("warnings")
    return NotebookReport(
        metrics=value["metrics"],
        effective_params=params if isinstance(params, dict) else None,
        partial=bool(value.get("effective_params_partial")),
        warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
    )


# -- where a value comes from ------------------------------------------------------------------

def defining_file(
    project_dir: Path, path: KeyPath, value: Any = _MISSING, conf: str = "conf"
) -> str | None:
    """The project's parameters file (relative to ``project_dir``) that sets ``path`` to
    ``value`` (the value Kedro used: the file that won), an environment's over the base's; with
    no ``value``, the last environment's file that sets the key at all. None when no file does.

    A plain YAML scan of every environment folder under ``<conf>`` with Kedro's default
    parameters patterns (``parameters*``, ``parameters*/**``, ``**/parameters*``: a file some
    part of whose path starts with ``parameters``) under the project's ``CONF_SOURCE`` (read
    by bricksmith.kedro_conf; ``<conf>`` when settings.py cannot be read)."""
    import yaml

    from bricksmith.errors import BricksmithError
    from bricksmith.kedro_conf import read_project_conf

    try:  # the project's CONF_SOURCE, as its settings.py sets it
        root = read_project_conf(Path(project_dir)).conf_source
    except BricksmithError:
        root = Path(project_dir) / conf
    if not root.is_dir():
        return None
    envs = sorted(
        (d for d in root.iterdir() if d.is_dir()), key=lambda d: (d.name != "base", d.name)
    )
    setting, matching = None, None
    for folder in envs:
        files = sorted(
            f for f in folder.rglob("*")
            if f.is_file() and f.suffix in (".yml", ".yaml", ".json")
            and any(part.startswith("parameters") for part in f.relative_to(folder).parts)
        )
        for file in files:
            try:
                data = yaml.safe_load(file.read_text(encoding="utf-8"))
            except (OSError, ValueError, yaml.YAMLError):
                continue
            found = lookup(data, path) if isinstance(data, Mapping) else _MISSING
            if found is _MISSING:
                continue
            name = (file.relative_to(project_dir).as_posix()
                     if file.is_relative_to(project_dir) else str(file))
            setting = name
            if value is not _MISSING and same_value(found, value):
                matching = name
    return setting if value is _MISSING else matching
