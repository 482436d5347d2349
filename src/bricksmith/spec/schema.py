"""The JSON schema of a workflow spec, generated from the Pydantic models.

``workflow.schema.json`` at the repository root is ``render_schema()``, checked in so editors
(yaml-language-server: ``# yaml-language-server: $schema=...``) can complete and check specs.
``bricksmith schema`` prints it; a test fails when the file is stale.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SCHEMA_DIALECT", "json_schema", "render_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The JSON schema (Draft 2020-12) of :class:`~bricksmith.spec.models.Workflow`.

    A fresh dict each call; deterministic for a given version of the models.
    """
    from bricksmith.spec.models import Workflow

    schema = Workflow.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["$comment"] = (
        "Generated from bricksmith.spec.models by `bricksmith schema`; do not edit by hand."
    )
    _require_discriminators(schema)
    return schema


def render_schema() -> str:
    """The schema as the text of ``workflow.schema.json``: sorted keys, indent 2, final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _require_discriminators(schema: dict[str, Any]) -> None:
    """Make each discriminated union's tag a required property of its variants.

    Pydantic requires the tag (``backend``) even for a variant that gives it a default, but the
    generated schema marks it optional; without this the schema would accept what the models
    refuse. (``discriminator`` itself is an OpenAPI keyword that JSON schema validators ignore;
    the ``oneOf`` does the work.)
    """
    defs = schema.get("$defs", {})

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            disc = node.get("discriminator")
            if isinstance(disc, dict) and isinstance(disc.get("mapping"), dict):
                prop = disc["propertyName"]
                for ref in disc["mapping"].values():
                    target = defs.get(ref.rsplit("/", 1)[-1])
                    if target is not None:
                        required = target.setdefault("required", [])
                        if prop not in required:
                            required.insert(0, prop)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)


if __name__ == "__main__":  # python -m bricksmith.spec.schema > workflow.schema.json
    print(render_schema(), end="")
