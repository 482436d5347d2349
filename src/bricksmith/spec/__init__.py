"""The workflow spec: YAML loading with positions, interpolation, models, schema, validation.

Public API: :func:`load_spec` -> :class:`LoadedSpec` (raises
:class:`bricksmith.errors.SpecError` listing every problem), the :class:`Workflow` models,
:func:`json_schema` and :func:`render_schema`. Names are imported lazily so that importing
``bricksmith.spec`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing

if TYPE_CHECKING:
    from bricksmith.spec.loader import Document, load_document
    from bricksmith.spec.models import Workflow
    from bricksmith.spec.schema import json_schema, render_schema
    from bricksmith.spec.validate import LoadedSpec, load_spec

__all__ = [
    "Document",
    "LoadedSpec",
    "Workflow",
    "json_schema",
    "load_document",
    "load_spec",
    "render_schema",
]

_WHERE = {
    "Document": "bricksmith.spec.loader",
    "load_document": "bricksmith.spec.loader",
    "LoadedSpec": "bricksmith.spec.validate",
    "load_spec": "bricksmith.spec.validate",
    "Workflow": "bricksmith.spec.models",
    "json_schema": "bricksmith.spec.schema",
    "render_schema": "bricksmith.spec.schema",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
