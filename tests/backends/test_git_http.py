"""The git layer against a loopback smart-HTTP server that requires basic auth (the stand-in
for GitHub over HTTPS): the token reaches git through the askpass helper only."""

from __future__ import annotations

import base64
from pathlib import Path

import git
import pytest

from bricksmith.backends import git as gitops
from bricksmith.backends.git_folder import sync_clone
from bricksmith.backends.local import LocalBackend
from bricksmith.errors import GitError
from tests.backends.conftest import GIT_TOKEN
from tests.gitserver import GitServer

ME = gitops.Identity("Test", "test@example.com")
VAR = "BRICKSMITH_TEST_GIT_TOKEN"
WRONG = "ghp-wrong-token-fedcba9876543210"


@pytest.fixture(autouse=True)
def isolated_git_config(tmp_path, monkeypatch) -> Path:
    """The machine's git config stays out; the user's global config has two credential helpers
    that would leak (one records being asked and answers a wrong credential, ``store`` writes
    the token to a file): bricksmith must use neither."""
    home = tmp_path / "home"
    home.mkdir()
    config = home / ".gitconfig"
    config.write_text(
        "[credential]\n"
        f'\thelper = "!f() {{ echo \\"$1\\" >> \'{home}/helper-called\'; '
        'echo username=intruder; echo password=not-the-token; }; f"\n'
        f"\thelper = store --file '{home}/git-credentials'\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("BRICKSMITH_GIT_USERNAME", raising=False)
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    monkeypatch.setenv(VAR, GIT_TOKEN)
    return home


def make_project(tmp_path: Path, text: str = "one\n") -> tuple[Path, str]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "a.txt").write_text(text)
    commit, _ = gitops.commit_all(project, branch="main", message=text, identity=ME)
    return project, commit


def secret_forms(*tokens: str) -> list[bytes]:
    """The tokens as they could leak: raw, and inside a basic-auth header."""
    forms = []
    for token in tokens:
        forms.append(token.encode())
        for user in ("x-access-token", "intruder", "alice"):
            forms.append(base64.b64encode(f"{user}:{token}".encode()))
    return forms


def assert_nowhere(folder: Path, *texts: str, tokens=(GIT_TOKEN, WRONG)) -> None:
    forms = secret_forms(*tokens)
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [f for f in forms if f in data], f"a token is in {path}"
    for text in texts:
        assert not [f for f in forms if f.decode() in text], f"a token is in {text!r}"


def assert_bare_url(config: Path, url: str) -> None:
    text = config.read_text()
    assert f"url = {url}\n" in text
    assert "@" not in text and "credential" not in text


def test_push_sends_the_token_through_askpass_not_the_url(
    tmp_path, git_server, isolated_git_config
):
    url = git_server.create_repo("project.git")
    project, commit = make_project(tmp_path)

    assert gitops.push(project, location=url, branch="main", token_env=VAR) == commit

    remote = git.Repo(git_server.root / "project.git")
    assert remote.commit("main").hexsha == commit
    seen = git_server.seen()
    # git asks anonymously first; the 401 makes it run the askpass helper, whose user name
    # (x-access-token) and password ($VAR) come back in the next requests.
    assert (seen[0].auth_present, seen[0].status) == (False, 401)
    pushed = [r for r in seen if r.service == "git-receive-pack" and r.method == "POST"]
    assert pushed and all(r.authorized and r.user == "x-access-token" for r in pushed)
    assert {r.user for r in seen if r.auth_present} == {"x-access-token"}
    # The configured credential helpers were switched off: not asked, nothing stored.
    assert not (isolated_git_config / "helper-called").exists()
    assert not (isolated_git_config / "git-credentials").exists()
    assert_bare_url(project / ".git" / "config", url)
    assert gitops.remote_branch_commit(url, "main", VAR) == commit
    assert_nowhere(tmp_path)


def test_ls_remote_without_the_token_is_refused(tmp_path, git_server):
    url = git_server.create_repo("project.git")
    project, commit = make_project(tmp_path)
    gitops.push(project, location=url, branch="main", token_env=VAR)
    git_server.clear()
    assert gitops.remote_branch_commit(url, "main", VAR) == commit
    assert git_server.saw_authorized("git-upload-pack")
    assert gitops.remote_branch_commit(url, "main") is None  # no token: the server says 401


def test_workspace_clone_and_fetch_use_the_token(tmp_path, git_server, isolated_git_config):
    url = git_server.create_repo("project.git")
    project, first = make_project(tmp_path)
    gitops.push(project, location=url, branch="main", token_env=VAR)
    backend = LocalBackend(tmp_path / "ws", user="me", cache_dir=tmp_path / "cache")

    git_server.clear()
    out = backend.sync_repo(
        name="project", location=url, branch="main", commit=first, token_env=VAR
    )
    clone = Path(out["path"])
    assert out["commit"] == first and (clone / "a.txt").read_text() == "one\n"
    assert git_server.saw_authorized("git-upload-pack")
    assert_bare_url(clone / ".git" / "config", url)

    (project / "a.txt").write_text("two\n")
    second, _ = gitops.commit_all(project, branch="main", message="two", identity=ME)
    gitops.push(project, location=url, branch="main", token_env=VAR)
    git_server.clear()
    assert sync_clone(url, clone, branch="main", commit=second, token_env=VAR)[0] == second
    assert (clone / "a.txt").read_text() == "two\n"
    fetched = [r for r in git_server.seen() if r.service == "git-upload-pack" and r.authorized]
    assert fetched and {r.user for r in fetched} == {"x-access-token"}
    assert backend.repo_drift(out | {"commit": second}) == []
    assert_bare_url(clone / ".git" / "config", url)
    assert not (isolated_git_config / "helper-called").exists()
    assert_nowhere(tmp_path)


def test_emulator_clone_helpers_accept_a_token(tmp_path, git_server):
    url = git_server.create_repo("project.git")
    project, first = make_project(tmp_path)
    gitops.push(project, location=url, branch="main", token_env=VAR)
    dest = tmp_path / "repos" / "project"
    assert gitops.clone_checkout(url, dest, branch="main", token_env=VAR) == ("main", first)
    (project / "a.txt").write_text("two\n")
    second, _ = gitops.commit_all(project, branch="main", message="two", identity=ME)
    gitops.push(project, location=url, branch="main", token_env=VAR)
    assert gitops.clone_update(dest, branch="main", token_env=VAR) == ("main", second)
    with pytest.raises(GitError, match="git fetch/checkout failed"):
        gitops.clone_update(dest, branch="main")  # no token: refused, without a prompt
    assert_bare_url(dest / ".git" / "config", url)
    assert_nowhere(tmp_path)


def test_a_wrong_token_is_a_clear_git_error_without_the_token(tmp_path, git_server, monkeypatch):
    url = git_server.create_repo("project.git")
    project, commit = make_project(tmp_path)
    monkeypatch.setenv(VAR, WRONG)

    with pytest.raises(GitError) as err:
        gitops.push(project, location=url, branch="main", token_env=VAR)
    text = f"{err.value.message}\n{err.value.hint}"
    assert "git push failed" in text and "Authentication failed" in text
    assert f"${VAR} (repo.token_env) holds a valid token" in err.value.hint
    seen = git_server.seen()
    assert any(r.auth_present and not r.authorized and r.status == 401 for r in seen)
    assert not any(r.authorized for r in seen)
    assert "main" not in [h.name for h in git.Repo(git_server.root / "project.git").heads]

    with pytest.raises(GitError) as err:
        sync_clone(url, tmp_path / "clone", branch="main", commit=commit, token_env=VAR)
    text += f"\n{err.value.message}\n{err.value.hint}"
    assert "git clone/fetch failed" in err.value.message
    assert "Authentication failed" in err.value.message
    assert gitops.remote_branch_commit(url, "main", VAR) is None
    assert_nowhere(tmp_path, text, repr(git_server.seen()))


def test_a_missing_token_variable_is_a_clear_error(tmp_path, git_server, monkeypatch):
    url = git_server.create_repo("project.git")
    project, commit = make_project(tmp_path)
    monkeypatch.delenv(VAR)
    for attempt in (
        lambda: gitops.push(project, location=url, branch="main", token_env=VAR),
        lambda: sync_clone(url, tmp_path / "c", branch="main", commit=commit, token_env=VAR),
    ):
        with pytest.raises(GitError) as err:
            attempt()
        assert err.value.message == f"environment variable {VAR} (repo.token_env) is not set"
        assert err.value.hint == f"export {VAR}=<token> before running bricksmith"
    assert git_server.seen() == []  # failed before talking to the server


def test_the_askpass_user_name_can_be_set(tmp_path, monkeypatch):
    with GitServer(tmp_path / "srv", token=GIT_TOKEN, user="alice") as server:
        url = server.create_repo("project.git")
        project, commit = make_project(tmp_path)
        with pytest.raises(GitError, match="Authentication failed"):
            gitops.push(project, location=url, branch="main", token_env=VAR)
        monkeypatch.setenv(gitops.USERNAME_ENV, "alice")
        assert gitops.push(project, location=url, branch="main", token_env=VAR) == commit
        assert {r.user for r in server.seen() if r.authorized} == {"alice"}
    assert_nowhere(tmp_path)


def test_the_server_requires_basic_auth(tmp_path, git_server):
    """The fixture itself: anonymous and wrong credentials get a 401 challenge."""
    import urllib.error
    import urllib.request

    url = git_server.create_repo("project.git") + "/info/refs?service=git-upload-pack"
    for header in (None, "Basic " + base64.b64encode(b"x:" + WRONG.encode()).decode()):
        request = urllib.request.Request(url, headers={"Authorization": header} if header else {})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 401
        assert err.value.headers["WWW-Authenticate"].startswith("Basic realm=")
    good = "Basic " + base64.b64encode(f"x:{GIT_TOKEN}".encode()).decode()
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"Authorization": good}), timeout=10
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == ("application/x-git-upload-pack-advertisement")
    assert [(r.auth_present, r.authorized, r.status) for r in git_server.seen()] == [
        (False, False, 401),
        (True, False, 401),
        (True, True, 200),
    ]
    assert GIT_TOKEN not in repr(git_server.seen())
