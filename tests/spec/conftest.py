from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# The example of DESIGN.md, section "The spec" (verbatim).
EXAMPLE = (Path(__file__).parent / "examples" / "design.yaml").read_text(encoding="utf-8")

EXAMPLE_ENV = {"DATABRICKS_CLUSTER_ID": "0123-456789-abcdef"}

# The smallest valid spec, for tests that add one mistake to it.
MINIMAL = """\
version: 1
name: demo
project:
  path: demo
repo:
  remote: ../demo.git
"""


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write spec text (dedented) to ``tmp_path/workflow.yaml`` (or ``name``); return the path."""

    def write(text: str, name: str = "workflow.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
