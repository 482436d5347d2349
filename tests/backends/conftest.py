"""Fixtures of the backend tests: a loopback smart-HTTP git server behind basic auth."""

from __future__ import annotations

import pytest

from tests.gitserver import GitServer

GIT_TOKEN = "ghp-test-backends-0123456789abcdef"


@pytest.fixture
def git_server(tmp_path):
    """A :class:`tests.gitserver.GitServer` on 127.0.0.1 that requires ``GIT_TOKEN``."""
    with GitServer(tmp_path / "git-server", token=GIT_TOKEN) as server:
        yield server
