"""Fixtures for the emulator's tests: everything goes through the real databricks-sdk."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

from bricksmith.backends import git as gitops

ME = gitops.Identity("Test", "test@example.com")
USER = "someone@example.com"


@pytest.fixture
def emulator_options() -> dict:
    """Small notebooks run with this interpreter (it has IPython): no environment to build;
    the workspace has serverless jobs, so a task needs no cluster."""
    return {"python": Path(sys.executable), "serverless": True}


@pytest.fixture
def w(emulator):
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=emulator.url, token=emulator.token)


class Remote:
    """A bare repository standing in for GitHub, and a working copy that pushes to it."""

    def __init__(self, folder: Path) -> None:
        self.url = str(folder / "remote.git")
        self.work = folder / "work"
        self.work.mkdir(parents=True)
        gitops.ensure_bare_remote(self.url, "main")

    def commit_and_push(self, files: dict[str, str], message: str, branch: str = "main") -> str:
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        commit, _ = gitops.commit_all(self.work, branch=branch, message=message, identity=ME)
        gitops.push(self.work, location=self.url, branch=branch, token_env=None)
        return commit


@pytest.fixture
def remote(tmp_path) -> Remote:
    return Remote(tmp_path / "git")


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


def notebook(*cells: str) -> str:
    """A Databricks SOURCE notebook with these code cells."""
    return "# Databricks notebook source\n" + "\n\n# COMMAND ----------\n\n".join(cells) + "\n"
