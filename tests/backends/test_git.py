import subprocess
from pathlib import Path

import git
import pytest

from bricksmith.backends import git as gitops
from bricksmith.backends import git_transport
from bricksmith.backends.git_folder import clone_state, sync_clone
from bricksmith.errors import GitError

ME = gitops.Identity("Test", "test@example.com")


def make_project(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.txt").write_text("one\n")
    (project / ".gitignore").write_text("data/\n")
    (project / "data").mkdir()
    (project / "data" / "big.csv").write_text("x\n")
    return project


def test_commit_only_when_the_tree_changed(tmp_path):
    project = make_project(tmp_path)
    first, made = gitops.commit_all(project, branch="main", message="m", identity=ME)
    assert made
    repo = git.Repo(project)
    assert repo.active_branch.name == "main"
    assert sorted(repo.git.ls_files().split()) == [".gitignore", "a.txt"]  # ignored data stays out
    assert repo.head.commit.author.email == "test@example.com"

    again, made = gitops.commit_all(project, branch="main", message="m", identity=ME)
    assert (again, made) == (first, False)

    (project / "a.txt").write_text("two\n")
    assert gitops.project_status(project)[0].changed == ["a.txt"]
    second, made = gitops.commit_all(project, branch="main", message="m2", identity=ME)
    assert made and second != first
    assert repo.head.commit.parents[0].hexsha == first


def test_push_creates_the_bare_remote_and_clone_follows(tmp_path):
    project = make_project(tmp_path)
    commit, _ = gitops.commit_all(project, branch="main", message="m", identity=ME)
    remote = str(tmp_path / "remote.git")
    assert gitops.ensure_bare_remote(remote, "main")
    assert not gitops.ensure_bare_remote(remote, "main")
    assert gitops.push(project, location=remote, branch="main", token_env=None) == commit
    assert gitops.remote_branch_commit(remote, "main") == commit
    assert git.Repo(project).remotes.origin.url == remote

    clone = tmp_path / "ws" / "repo"
    assert sync_clone(remote, clone, branch="main", commit=commit)[0] == commit
    assert (clone / "a.txt").read_text() == "one\n"
    assert clone_state(clone) == (commit, [])

    (project / "a.txt").write_text("two\n")
    newer, _ = gitops.commit_all(project, branch="main", message="m2", identity=ME)
    gitops.push(project, location=remote, branch="main", token_env=None)
    assert sync_clone(remote, clone, branch="main", commit=newer)[0] == newer
    assert (clone / "a.txt").read_text() == "two\n"

    (clone / "a.txt").write_text("edited in the workspace\n")
    assert clone_state(clone) == (newer, ["a.txt"])


def test_a_remote_that_refuses_the_push_is_a_git_error_with_a_hint(tmp_path):
    project = make_project(tmp_path)
    gitops.commit_all(project, branch="main", message="m", identity=ME)
    remote = tmp_path / "remote.git"
    gitops.ensure_bare_remote(str(remote), "main")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitError) as err:
        gitops.push(project, location=str(remote), branch="main", token_env=None)
    assert "git push failed" in err.value.message
    assert "pushes are frozen" in err.value.message
    assert "accepts pushes" in err.value.hint
    assert gitops.remote_branch_commit(str(remote), "main") is None


def test_missing_remote_branch_reads_as_none(tmp_path):
    assert gitops.remote_branch_commit(str(tmp_path / "nothing.git"), "main") is None
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "empty.git")], check=True)
    assert gitops.remote_branch_commit(str(tmp_path / "empty.git"), "main") is None


def test_token_env_must_be_set_and_is_never_in_the_environment_passed(tmp_path, monkeypatch):
    monkeypatch.delenv("BRICKSMITH_TEST_TOKEN", raising=False)
    with pytest.raises(GitError, match="BRICKSMITH_TEST_TOKEN"), gitops.credentials_env(
        "BRICKSMITH_TEST_TOKEN"
    ):
        pass
    monkeypatch.setenv("BRICKSMITH_TEST_TOKEN", "s3cr3t-value")
    with gitops.credentials_env("BRICKSMITH_TEST_TOKEN") as env:
        assert "s3cr3t-value" not in repr(env)
        helper = env["GIT_ASKPASS"]
        assert "s3cr3t-value" not in Path(helper).read_text()
        out = subprocess.run([helper, "Password for 'https://x@h':"], capture_output=True,
                             text=True, env={**env, "BRICKSMITH_TEST_TOKEN": "s3cr3t-value"})
        assert out.stdout.strip() == "s3cr3t-value"


def test_the_first_commit_gets_its_own_message(tmp_path):
    project = make_project(tmp_path)
    gitops.commit_all(project, branch="main", message="update", identity=ME, first_message="create")
    (project / "a.txt").write_text("two\n")
    gitops.commit_all(project, branch="main", message="update", identity=ME, first_message="create")
    messages = [c.message.strip() for c in git.Repo(project).iter_commits()]
    assert messages == ["update\n\na.txt (modified)", "create\n\n2 files."]


def test_transient_git_errors_are_retried_with_backoff_permanent_ones_are_not():
    sleeps = []
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise git.GitCommandError(["git", "push"], 128,
                                      stderr="fatal: unable to access: Connection reset by peer")
        return "pushed"

    assert gitops.retrying(flaky, sleep=sleeps.append, jitter=lambda: 0.5) == "pushed"
    assert sleeps == [1.0, 2.0] and len(attempts) == 3

    rejected = git.GitCommandError(["git", "push"], 1, stderr="! [rejected] main (fetch first)")
    calls = []

    def refused():
        calls.append(1)
        raise rejected

    with pytest.raises(git.GitCommandError):
        gitops.retrying(refused, sleep=sleeps.append)
    assert len(calls) == 1  # permanent: no retry
    assert gitops.is_transient(git.GitCommandError(["git"], 128,
                               stderr="The requested URL returned error: 503"))
    assert not gitops.is_transient(git.GitCommandError(["git"], 128,
                                   stderr="Authentication failed for 'http://h/r.git'"))

    always = []

    def down():
        always.append(1)
        raise git.GitCommandError(["git"], 128, stderr="Could not resolve host: example.invalid")

    with pytest.raises(git.GitCommandError):
        gitops.retrying(down, sleep=lambda s: None)
    assert len(always) == git_transport.NETWORK_ATTEMPTS
