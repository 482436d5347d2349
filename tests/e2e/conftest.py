"""Whole applies of real specs through the CLI, on the local backend."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from bricksmith.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run ``bricksmith ARGS`` in this process; returns exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(["--no-color", *map(str, args)])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def seed(tmp_path) -> Path:
    """specs/iris.yaml copied into an empty folder (its relative paths land there)."""
    spec = tmp_path / "iris.yaml"
    shutil.copy(SPECS / "iris.yaml", spec)
    return spec


def tree(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its size: a snapshot to prove nothing was written."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def emulated_state_rows(spec: Path) -> dict[str, tuple[str, dict]]:
    """{step: (status, outputs)} of the ``emulated`` target's state: {} while it is not there
    or its first apply is still creating it. Read-only, safe during an apply."""
    import sqlite3

    db = spec.parent / ".bricksmith/emulated/state.db"
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return {key: (status, json.loads(outputs)) for key, status, outputs in
                    conn.execute("SELECT key, status, outputs FROM steps")}
    except sqlite3.OperationalError:  # the file exists, its tables are not made yet
        return {}
