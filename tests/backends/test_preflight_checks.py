"""The backends' preflight pieces: git's failures said by kind, a local remote looked at on
disk, a Databricks configuration read without the network (what plan warns about)."""

from __future__ import annotations

import os

import pytest

from bricksmith.backends.databricks import DatabricksBackend
from bricksmith.backends.databricks_preflight import config_problems
from bricksmith.backends.git_preflight import describe_failure, remote_host, remote_problems


@pytest.mark.parametrize("stderr, said", [
    ("fatal: unable to access 'https://x.example/r.git/': Could not resolve host: x.example",
     "cannot reach x.example: DNS lookup failed"),
    ("fatal: unable to access 'https://x.example/r.git/': Failed to connect to x.example port "
     "443 after 0 ms: Couldn't connect to server", "the connection was refused"),
    ("fatal: unable to access 'https://x.example/r.git/': SSL certificate problem: self-signed "
     "certificate", "the TLS (https) handshake failed"),
    ("remote: Invalid username or token.\nfatal: Authentication failed for "
     "'https://x.example/r.git/'", "x.example refused the credentials"),
    ("remote: Repository not found.\nfatal: repository 'https://x.example/r.git/' not found",
     "the repository https://x.example/r.git was not found"),
])
def test_git_failures_are_said_by_kind(stderr, said):
    what, fix = describe_failure(stderr, "https://x.example/r.git", "GITHUB_TOKEN")
    assert said in what
    if "credentials" in said or "not found" in said:
        assert "$GITHUB_TOKEN (repo.token_env)" in fix
    else:
        assert "credential" not in fix and "token" not in fix.lower()


def test_remote_hosts_of_urls_and_scp_like_remotes():
    assert remote_host("https://github.com/me/r.git") == "github.com"
    assert remote_host("http://127.0.0.1:8080/r.git") == "127.0.0.1:8080"
    assert remote_host("git@github.com:me/r.git") == "github.com"


def test_a_local_remote_is_a_repository_or_creatable(tmp_path):
    project = tmp_path / "project"
    assert remote_problems(str(tmp_path / "new/remote.git"), "main", None, project=project,
                           network=False, pushing=True) == []  # apply creates it
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/file.txt").write_text("x")
    found = remote_problems(str(tmp_path / "plain"), "main", None, project=project,
                            network=False, pushing=True)
    assert len(found) == 1 and "exists but is not a git repository" in found[0].what
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        found = remote_problems(str(locked / "r.git"), "main", None, project=project,
                                network=False, pushing=True)
        assert "cannot be created" in found[0].what


def test_a_remote_that_is_not_local_is_not_asked_without_the_network():
    assert remote_problems("https://nonexistent.invalid/r.git", "main", None,
                           project=None, network=False, pushing=True) == []


@pytest.fixture
def no_databricks_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "GOOGLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / ".databrickscfg"))
    return tmp_path


def test_plan_names_a_missing_host_profile_or_credentials(no_databricks_env, monkeypatch):
    environ = os.environ
    backend = DatabricksBackend(host=None, profile=None, cluster_id="c")
    [problem] = config_problems(backend, "target dbx", environ)
    assert problem.what == "no Databricks host is configured"
    assert "targets.dbx.host" in problem.fix

    backend = DatabricksBackend(host=None, profile="work", cluster_id="c")
    [problem] = config_problems(backend, "target dbx", environ)
    assert "profile work is not in the Databricks config file" in problem.what

    backend = DatabricksBackend(host="https://adb-1.2.azuredatabricks.net", profile=None,
                                cluster_id="c")
    monkeypatch.setenv("PATH", "")  # no Azure CLI to fall back on
    [problem] = config_problems(backend, "target dbx", environ)
    assert problem.what == "no Databricks credentials found for " \
        "https://adb-1.2.azuredatabricks.net"
    assert "DATABRICKS_TOKEN" in problem.fix

    monkeypatch.setenv("DATABRICKS_TOKEN", "t")
    assert config_problems(backend, "target dbx", environ) == []
    monkeypatch.delenv("DATABRICKS_TOKEN")
    (no_databricks_env / ".databrickscfg").write_text(
        "[work]\nhost = https://adb-1.2.azuredatabricks.net\ntoken = t\n")
    backend = DatabricksBackend(host=None, profile="work", cluster_id="c")
    assert config_problems(backend, "target dbx", environ) == []
