"""Starters from anywhere: local folders (with a folder inside), git repositories at a ref, and
clear errors for what cannot be used. Never touches the network: git URLs are file:// or a
local port that refuses or never answers."""

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bricksmith.errors import ScaffoldError
from bricksmith.starters import clone, describe_starter, resolve_starter, starter_template
from bricksmith.starters.clone import without_credentials

REFUSED = "https://127.0.0.1:9/starters.git"  # nothing listens on the discard port


def template(folder: Path, marker: str = "v1") -> Path:
    (folder / "{{ cookiecutter.repo_name }}").mkdir(parents=True, exist_ok=True)
    (folder / "cookiecutter.json").write_text(json.dumps({"repo_name": "x", "marker": marker}))
    return folder


def marker(folder: Path) -> str:
    return json.loads((folder / "cookiecutter.json").read_text())["marker"]


def git(*args, cwd: Path) -> str:
    command = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repository(tmp_path) -> dict:
    """A repository of two starters: tag v1.0 and branch 'old' at marker v1, main at v2."""
    work = tmp_path / "starters-src"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    template(work / "iris", "v1")
    template(work / "other", "v1")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "v1", cwd=work)
    git("tag", "v1.0", cwd=work)
    git("branch", "old", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work).strip()
    template(work / "iris", "v2")
    git("commit", "-q", "-am", "v2", cwd=work)
    bare = tmp_path / "starters.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return {"work": work, "bare": bare, "url": bare.as_uri(), "first": first}


# ------------------------------------------------------------------------------ local folders


def test_a_local_folder_with_a_folder_inside(tmp_path):
    template(tmp_path / "mine" / "starters" / "iris")
    expected = (tmp_path / "mine" / "starters" / "iris").resolve()
    assert resolve_starter("mine#starters/iris", tmp_path) == expected
    assert resolve_starter("mine", tmp_path, directory="starters/iris") == expected
    assert resolve_starter("mine#starters/iris/", tmp_path, directory="starters/iris") == expected


def test_a_local_git_working_tree_is_used_as_it_is(repository):
    (repository["work"] / "iris" / "cookiecutter.json").write_text('{"marker": "edited"}')
    used = resolve_starter(str(repository["work"]), Path("/"), directory="iris")
    assert used == (repository["work"] / "iris").resolve()  # no clone: uncommitted edits count
    assert marker(used) == "edited"


def test_a_missing_folder_inside_names_the_starters_there(tmp_path):
    template(tmp_path / "repo" / "iris")
    template(tmp_path / "repo" / "spaceflights")
    with pytest.raises(ScaffoldError, match="has no folder 'irs'") as caught:
        resolve_starter("repo", tmp_path, directory="irs")
    assert caught.value.hint == (
        "Starters in it: iris, spaceflights; name one with project.starter_directory."
    )
    with pytest.raises(ScaffoldError, match="no cookiecutter.json") as caught:
        resolve_starter("repo", tmp_path)
    assert "iris, spaceflights" in caught.value.hint


def test_folder_and_checkout_options_that_cannot_apply(tmp_path):
    template(tmp_path / "repo" / "iris")
    with pytest.raises(ScaffoldError, match="relative path inside the starter"):
        resolve_starter("repo", tmp_path, directory="../elsewhere")
    with pytest.raises(ScaffoldError, match="names the folder .iris., starter_directory .other."):
        resolve_starter("repo#iris", tmp_path, directory="other")
    with pytest.raises(ScaffoldError, match="not a git repository"):
        resolve_starter("repo#iris", tmp_path, checkout="v1.0")
    for kw in ({"directory": "x"}, {"checkout": "v1"}):
        with pytest.raises(ScaffoldError, match="built-in starter 'databricks-iris' takes no"):
            resolve_starter("databricks-iris", tmp_path, **kw)
    with pytest.raises(ScaffoldError, match="takes no"):
        resolve_starter("databricks-iris#x", tmp_path)


# ---------------------------------------------------------------------------- git starters


def test_a_git_starter_at_a_tag_a_branch_and_a_commit(repository, tmp_path):
    url = repository["url"]
    cases = {None: "v2", "main": "v2", "v1.0": "v1", "old": "v1", repository["first"]: "v1"}
    for checkout, expected in cases.items():
        with starter_template(f"{url}#iris", tmp_path, checkout=checkout) as used:
            assert used.name == "iris"
            assert marker(used) == expected, checkout
        assert not used.exists()


def test_a_tag_clone_is_shallow(repository, tmp_path):
    with starter_template(repository["url"], tmp_path, directory="iris", checkout="v1.0") as used:
        assert (used.parent / ".git" / "shallow").is_file()


def test_a_local_repository_at_a_checkout_is_cloned(repository, tmp_path):
    with starter_template(str(repository["work"]), tmp_path, directory="iris",
                          checkout="v1.0") as used:
        assert marker(used) == "v1"
        assert not used.is_relative_to(repository["work"])


def test_an_unknown_ref_is_a_clear_error(repository, tmp_path):
    with pytest.raises(ScaffoldError, match="has no tag, branch or commit 'v9'") as caught:
        resolve_starter(repository["url"], tmp_path, directory="iris", checkout="v9",
                        clone_into=tmp_path / "clone")
    assert "starter_checkout" in caught.value.hint
    assert not (tmp_path / "clone").exists()


def test_a_missing_folder_in_a_git_starter_lists_its_starters(repository, tmp_path):
    with pytest.raises(ScaffoldError, match="has no folder 'nope'") as caught:
        resolve_starter(repository["url"] + "#nope", tmp_path, clone_into=tmp_path / "clone")
    assert "iris, other" in caught.value.hint
    assert not (tmp_path / "clone").exists()


def test_an_unreachable_git_starter_fails_fast_and_says_what_to_do(tmp_path):
    started = time.monotonic()
    with pytest.raises(ScaffoldError) as caught:
        resolve_starter(REFUSED, tmp_path, checkout="v1.0")
    assert time.monotonic() - started < 10
    error = caught.value
    assert error.message.startswith(f"Cannot clone the starter repository {REFUSED}: ")
    assert "local template directory" in error.hint
    assert "databricks-iris" in error.hint
    assert error.log_tail


@pytest.mark.parametrize("userinfo", ["me:s3cr3t-token", "s3cr3t-token"])
def test_credentials_in_the_url_never_show(tmp_path, userinfo):
    url = f"https://{userinfo}@127.0.0.1:9/starters.git"
    with pytest.raises(ScaffoldError) as caught:
        resolve_starter(url, tmp_path)
    error = caught.value
    text = f"{error.message} {error.hint} {error.log_tail}"
    assert "s3cr3t" not in text
    assert "https://***@127.0.0.1:9/starters.git" in error.message


def test_without_credentials():
    assert without_credentials("https://me:tok@host/x.git") == "https://***@host/x.git"
    assert without_credentials("https://tok@host/x.git") == "https://***@host/x.git"
    assert without_credentials("ssh://git@host/x.git") == "ssh://git@host/x.git"
    assert without_credentials("git@github.com:me/x.git") == "git@github.com:me/x.git"
    assert without_credentials("file:///srv/x.git") == "file:///srv/x.git"
    assert describe_starter("https://t@h/x.git", "iris", "v1") == (
        "https://***@h/x.git (directory iris, checkout v1)"
    )


def test_a_clone_that_hangs_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(clone, "CLONE_TIMEOUT_S", 1.0)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/starters.git"
        started = time.monotonic()
        with pytest.raises(ScaffoldError, match="timed out after 1 s") as caught:
            resolve_starter(url, tmp_path)
        assert time.monotonic() - started < 10
    assert "local template directory" in caught.value.hint


def test_without_git_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(clone, "GIT", str(tmp_path / "no-git-here"))
    with pytest.raises(ScaffoldError, match="git is not usable") as caught:
        resolve_starter(REFUSED, tmp_path)
    assert "Install git" in caught.value.hint
