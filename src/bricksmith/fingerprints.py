"""Fingerprints of a step's resolved inputs, and readable differences between two of them.

At the bottom, owned by no layer: the planner compares them with the records, the executor
recomputes them before a step runs, the MLflow step tags its runs with one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any


def material(inputs: Mapping[str, Any], upstream: Mapping[str, Mapping[str, Any]]) -> dict:
    """What a step's fingerprint is computed from: its own inputs and its upstream outputs.

    Output keys starting with ``_`` are the upstream step's own bookkeeping (a file manifest
    with timestamps, a log path) and do not count: only what downstream steps consume does.
    """
    return {
        "inputs": dict(inputs),
        "upstream": {
            key: {k: v for k, v in outputs.items() if not k.startswith("_")}
            for key, outputs in sorted(upstream.items())
        },
    }


def fingerprint(snapshot: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(snapshot).encode()).hexdigest()


# one encoder for every fingerprint: json.dumps with options builds a new one per call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def _canonical(value: Any) -> str:
    return _CANONICAL.encode(value)


class Fingerprints:
    """``fingerprint(material(inputs, upstream))`` for many steps that share upstream steps
    (10,000 data sets after one scaffold): each upstream step's public outputs are encoded
    once, and the canonical text is put together from the pieces — the same bytes, so the
    same fingerprint."""

    def __init__(self, outputs_of: Callable[[str], Mapping[str, Any]]) -> None:
        self._outputs_of = outputs_of
        self._encoded: dict[str, str] = {}

    def of(self, inputs: Mapping[str, Any], upstream: Iterable[str]) -> str:
        """The fingerprint of a step with ``inputs`` whose upstream steps are ``upstream``."""
        parts = ",".join(f"{_canonical(key)}:{self._public(key)}" for key in sorted(upstream))
        text = f'{{"inputs":{_canonical(dict(inputs))},"upstream":{{{parts}}}}}'
        return hashlib.sha256(text.encode()).hexdigest()

    def _public(self, key: str) -> str:
        encoded = self._encoded.get(key)
        if encoded is None:
            outputs = self._outputs_of(key)
            encoded = _canonical({k: v for k, v in outputs.items() if not k.startswith("_")})
            self._encoded[key] = encoded
        return encoded


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay whole (they read better that way)."""
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


_MISSING = object()


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Lines like ``inputs.params.train_fraction: 0.8 → 0.7`` for every changed leaf."""
    before, after = flatten(old), flatten(new)
    lines = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, _MISSING), after.get(key, _MISSING)
        if a != b:
            lines.append(f"{key}: {_show(a)} → {_show(b)}")
    return lines
