"""The databricks backend's Git folders, credentials and auth errors, through the real
databricks-sdk against the emulator (which answers as a real 2026 workspace: no /Repos/<user>
for a new identity, pulls that keep uncommitted changes, several credentials per user)."""

from __future__ import annotations

import socket

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as sdk

from bricksmith.backends.databricks import DatabricksBackend
from bricksmith.errors import BackendError, GitError
from tests.emulator.conftest import USER, Remote

LIST_REPOS = "GET /api/2.0/repos"


@pytest.fixture
def remote(tmp_path) -> Remote:
    return Remote(tmp_path / "git")


@pytest.fixture
def w(emulator) -> WorkspaceClient:
    return WorkspaceClient(host=emulator.url, token=emulator.token)


def backend(emulator, monkeypatch, tmp_path, **options) -> DatabricksBackend:
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    return DatabricksBackend(host=emulator.url, profile=None, cluster_id=None,
                             keep_dir=tmp_path / "kept", **options)


def sync(b, remote, commit, **options):
    return b.sync_repo(name="proj", location=remote.url, branch="main", commit=commit,
                       token_env=options.pop("token_env", None), project=remote.work, **options)


def test_first_apply_of_a_new_identity_makes_the_parent_and_finds_by_path(
        emulator, remote, monkeypatch, tmp_path):
    commit = remote.commit_and_push({"README.md": "one\n"}, "first")
    b = backend(emulator, monkeypatch, tmp_path)
    out = sync(b, remote, commit)
    assert out["path"] == f"/Workspace/Repos/{USER}/proj"
    assert (emulator.root / f"Workspace/Repos/{USER}/proj/README.md").read_text() == "one\n"
    assert emulator.calls["POST /api/2.0/workspace/mkdirs"] == 1
    second = remote.commit_and_push({"README.md": "two\n"}, "second")
    again = sync(b, remote, second)
    assert again["repo_id"] == out["repo_id"]
    assert emulator.calls["POST /api/2.0/repos"] == 1  # found by path the second time
    assert emulator.calls[LIST_REPOS] == 0  # never the deprecated list
    assert emulator.calls["GET /api/2.0/workspace/get-status"] >= 2


def test_git_folder_under_the_users_home(emulator, remote, monkeypatch, tmp_path):
    commit = remote.commit_and_push({"a.txt": "a"}, "first")
    b = backend(emulator, monkeypatch, tmp_path,
                git_folder_parent="/Workspace/Users/{user}/git")
    out = sync(b, remote, commit)
    assert out["path"] == f"/Workspace/Users/{USER}/git/proj"
    assert b.repo_path("proj") == out["path"]
    assert (emulator.root / f"Workspace/Users/{USER}/git/proj/a.txt").read_text() == "a"
    assert b.repo_drift(out, project=remote.work) == []


def test_a_failed_create_leaves_no_half_made_folder(emulator, remote, monkeypatch, tmp_path, w):
    commit = remote.commit_and_push({"a.txt": "a"}, "first")
    b = backend(emulator, monkeypatch, tmp_path)
    real_create = b.client.repos.create

    def half_made(**kwargs):  # as dbx 413 / databricks-cli 388: the folder, then the error
        b.client.workspace.mkdirs(kwargs["path"])
        raise sdk.BadRequest("Failed to clone: connection reset")

    b.client.repos.create = half_made
    with pytest.raises(BackendError, match="connection reset"):
        sync(b, remote, commit)
    with pytest.raises(sdk.NotFound):
        w.workspace.get_status(f"/Repos/{USER}/proj")
    b.client.repos.create = real_create
    assert sync(b, remote, commit)["commit"] == commit  # the next apply creates it


def test_credentials_per_provider_others_untouched(emulator, remote, monkeypatch, tmp_path, w):
    ado = w.git_credentials.create(git_provider="azureDevOpsServices", git_username="me",
                                   personal_access_token="ado-pat")
    commit = remote.commit_and_push({"a.txt": "a"}, "first")
    monkeypatch.setenv("GIT_TOKEN_FOR_TEST", "gh-pat")
    b = backend(emulator, monkeypatch, tmp_path)
    git = {"provider": "gitHubEnterprise", "git_email": "me@example.com"}
    sync(b, remote, commit, token_env="GIT_TOKEN_FOR_TEST", git=git)
    listed = {c.credential_id: c for c in w.git_credentials.list()}
    assert len(listed) == 2
    assert (listed[ado.credential_id].git_provider,
            listed[ado.credential_id].git_username) == ("azureDevOpsServices", "me")
    [mine] = [c for c in listed.values() if c.credential_id != ado.credential_id]
    assert (mine.git_provider, mine.git_email) == ("gitHubEnterprise", "me@example.com")
    assert emulator.git_credentials._tokens[mine.credential_id] == "gh-pat"
    assert emulator.git_credentials._tokens[ado.credential_id] == "ado-pat"
    monkeypatch.setenv("GIT_TOKEN_FOR_TEST", "gh-pat-2")
    sync(b, remote, commit, token_env="GIT_TOKEN_FOR_TEST", git=git)
    assert len(list(w.git_credentials.list())) == 2  # updated, not another one
    assert emulator.git_credentials._tokens[mine.credential_id] == "gh-pat-2"
    assert emulator.git_credentials._tokens[ado.credential_id] == "ado-pat"


def test_unknown_git_host_and_ssh_are_refused_before_any_call(emulator, monkeypatch, tmp_path):
    b = backend(emulator, monkeypatch, tmp_path)
    emulator.reset_counts()
    for url, match in [("https://git.example.com/me/p.git", "repo.provider"),
                       ("git@github.com:me/p.git", "https://")]:
        with pytest.raises(GitError) as caught:
            b.sync_repo(name="p", location=url, branch="main", commit="0" * 40, token_env=None)
        assert match in caught.value.hint
    assert sum(emulator.calls.values()) == 0


def test_an_invalid_token_is_a_login_problem_naming_the_host(emulator, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-expired")
    b = DatabricksBackend(host=emulator.url, profile=None, cluster_id=None)
    with pytest.raises(BackendError) as caught:
        b.preflight()
    assert "rejected the access token" in caught.value.message
    assert emulator.url in caught.value.message
    assert f"databricks auth login --host {emulator.url}" in caught.value.hint
    assert "Config:" not in caught.value.message


def test_a_wrong_host_fails_at_once_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABRICKS_TOKEN", "x")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none"))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    b = DatabricksBackend(host=host, profile=None, cluster_id=None)
    calls = []
    monkeypatch.setattr(b, "_make_client", lambda *a: calls.append(a))
    with pytest.raises(BackendError) as caught:
        b.preflight()
    assert f"cannot reach the Databricks workspace {host}" in caught.value.message
    assert "targets.<name>.host" in caught.value.hint
    assert calls == []  # failed before the SDK spent its retry budget
