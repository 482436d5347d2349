"""Repos (real clones of a local bare repository) and Git credentials."""

import git
import pytest
from databricks.sdk import errors
from databricks.sdk.service.workspace import ObjectType

from tests.emulator.conftest import USER, notebook

PATH = f"/Repos/{USER}/project"


@pytest.fixture(autouse=True)
def repos_home(w):
    """The user's /Repos folder, as once they opened the workspace UI (a new user has none)."""
    w.workspace.mkdirs(f"/Repos/{USER}")


def test_create_clones_and_update_pulls_the_branch(w, emulator, remote):
    first = remote.commit_and_push({"README.md": "one\n"}, "first")
    repo = w.repos.create(url=remote.url, provider="gitHub", path=PATH)
    assert (repo.path, repo.branch, repo.head_commit_id, repo.url) == (
        PATH,
        "main",
        first,
        remote.url,
    )
    clone = emulator.root / "Workspace" / "Repos" / USER / "project"
    assert (clone / "README.md").read_text() == "one\n"

    with pytest.raises(errors.ResourceAlreadyExists):
        w.repos.create(url=remote.url, provider="gitHub", path=PATH)

    second = remote.commit_and_push({"README.md": "two\n"}, "second")
    assert w.repos.get(repo.id).head_commit_id == first  # nothing moves until an update
    w.repos.update(repo.id, branch="main")
    assert w.repos.get(repo.id).head_commit_id == second
    assert (clone / "README.md").read_text() == "two\n"

    git.Repo(remote.work).create_tag("v1", ref=first)
    git.Repo(remote.work).git.push(remote.url, "v1")
    w.repos.update(repo.id, tag="v1")
    tagged = w.repos.get(repo.id)
    assert tagged.head_commit_id == first and tagged.branch is None

    with pytest.raises(errors.BadRequest):
        w.repos.update(repo.id, branch="no-such-branch")


def test_list_get_delete_and_the_workspace_view(w, remote):
    remote.commit_and_push({"nb.py": notebook("print(1)"), "lib/x.txt": "x"}, "first")
    repo = w.repos.create(url=remote.url, provider="GITHUB", path=f"/Workspace{PATH}")
    assert repo.path == PATH and repo.provider == "gitHub"
    assert [r.id for r in w.repos.list(path_prefix=f"/Repos/{USER}")] == [repo.id]
    assert [r.id for r in w.repos.list()] == [repo.id]
    assert list(w.repos.list(path_prefix="/Repos/other")) == []

    assert w.workspace.get_status(PATH).object_type == ObjectType.REPO
    assert w.workspace.get_status(PATH).object_id == repo.id
    kinds = {o.path: o.object_type for o in w.workspace.list(PATH)}
    assert kinds == {f"{PATH}/nb": ObjectType.NOTEBOOK, f"{PATH}/lib": ObjectType.DIRECTORY}

    w.repos.delete(repo.id)
    with pytest.raises(errors.NotFound):
        w.repos.get(repo.id)
    with pytest.raises(errors.NotFound):
        w.workspace.get_status(PATH)


def test_create_errors(w, remote, tmp_path):
    remote.commit_and_push({"a": "a"}, "first")
    with pytest.raises(errors.BadRequest, match="provider"):
        w.repos.create(url=remote.url, provider="myGit", path=PATH)
    with pytest.raises(errors.BadRequest, match="Failed to clone"):
        w.repos.create(url=str(tmp_path / "nowhere.git"), provider="gitHub", path=PATH)
    with pytest.raises(errors.BadRequest, match="/Repos/"):
        w.repos.create(url=remote.url, provider="gitHub", path=f"/Repos/{USER}/a/b")
    with pytest.raises(errors.NotFound):
        w.repos.create(url=remote.url, provider="gitHub", path=f"/Users/{USER}/no/project")


def test_repos_survive_an_emulator_restart(w, emulator, remote):
    from bricksmith.emulator import Emulator

    commit = remote.commit_and_push({"a": "a"}, "first")
    w.repos.create(url=remote.url, provider="gitLab", path=PATH)
    emulator.stop()
    with Emulator(emulator.root) as again:
        from databricks.sdk import WorkspaceClient

        [repo] = WorkspaceClient(host=again.url, token="unused").repos.list()
        assert (repo.path, repo.provider, repo.head_commit_id) == (PATH, "gitLab", commit)


def test_git_credentials_several_per_user(w, emulator):
    secret = "ghp_emulator-secret-token-123"
    created = w.git_credentials.create(
        git_provider="gitHub", git_username="me", personal_access_token=secret
    )
    assert created.credential_id and created.git_provider == "gitHub"
    w.git_credentials.update(
        created.credential_id,
        git_provider="gitLab",
        git_username="you",
        personal_access_token="new-" + secret,
    )
    [listed] = w.git_credentials.list()
    assert (listed.git_provider, listed.git_username) == ("gitLab", "you")
    assert w.git_credentials.get(created.credential_id).git_username == "you"

    # The token is kept in memory only: never answered, never on disk.
    assert secret not in repr(listed.as_dict())
    for file in emulator.root.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file

    w.git_credentials.delete(created.credential_id)
    assert list(w.git_credentials.list()) == []
    with pytest.raises(errors.NotFound):
        w.git_credentials.get(created.credential_id)
    w.git_credentials.create(git_provider="gitHub", personal_access_token=secret)
