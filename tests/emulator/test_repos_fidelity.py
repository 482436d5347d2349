"""The Repos and Git credentials APIs as a real 2026 workspace answers them (facts and their
sources: /work/shared/DATABRICKS-FACTS.md; the fidelity audit's curl reproductions)."""

import pytest
from databricks.sdk import errors
from databricks.sdk.service.workspace import ImportFormat, Language, ObjectType

from tests.emulator.conftest import USER, b64

PATH = f"/Repos/{USER}/project"


def test_a_new_identity_has_no_repos_folder_until_mkdirs(w, remote):
    """Real: 404 "Parent directory ... does not exist" until the user opened the UI; Terraform's
    resource_repo.go runs workspace/mkdirs on the parent first."""
    remote.commit_and_push({"a": "a"}, "first")
    with pytest.raises(errors.NotFound, match="Parent directory"):
        w.repos.create(url=remote.url, provider="gitHub", path="/Repos/new-sp-0000/iris")
    with pytest.raises(errors.NotFound):
        w.workspace.get_status("/Repos/new-sp-0000")
    w.workspace.mkdirs("/Repos/new-sp-0000")
    repo = w.repos.create(url=remote.url, provider="gitHub", path="/Repos/new-sp-0000/iris")
    assert repo.path == "/Repos/new-sp-0000/iris"


def test_git_folders_anywhere_under_the_users_home_found_by_get_status(w, remote):
    commit = remote.commit_and_push({"a": "a"}, "first")
    path = f"/Users/{USER}/git/project"
    with pytest.raises(errors.NotFound):
        w.repos.create(url=remote.url, provider="gitLab", path=path)
    w.workspace.mkdirs(f"/Workspace/Users/{USER}/git")
    repo = w.repos.create(url=remote.url, provider="gitLab", path=f"/Workspace{path}")
    status = w.workspace.get_status(f"/Workspace{path}")
    assert status.object_type == ObjectType.REPO
    assert int(status.resource_id) == repo.id == status.object_id
    assert w.repos.get(int(status.resource_id)).head_commit_id == commit


def _repo_with_edits(w, remote, emulator):
    remote.commit_and_push({"README.md": "one\n", "conf.yml": "a: 1\n"}, "first")
    w.workspace.mkdirs(f"/Repos/{USER}")
    repo = w.repos.create(url=remote.url, provider="gitHub", path=PATH)
    clone = emulator.root / "Workspace" / "Repos" / USER / "project"
    w.workspace.import_(f"{PATH}/scratch", format=ImportFormat.SOURCE, language=Language.PYTHON,
                        content=b64('print("edited in the workspace")'))
    (clone / "conf.yml").write_text("a: 2  # edited in the workspace\n")
    return repo, clone


def test_a_pull_keeps_uncommitted_changes(w, emulator, remote):
    """ReposAPI.update (databricks-sdk 0.162): uncommitted changes are kept unless
    dangerously_force_discard_all is set."""
    repo, clone = _repo_with_edits(w, remote, emulator)
    second = remote.commit_and_push({"README.md": "two\n"}, "second")
    w.repos.update(repo.id, branch="main")
    assert w.repos.get(repo.id).head_commit_id == second
    assert (clone / "README.md").read_text() == "two\n"
    assert (clone / "conf.yml").read_text() == "a: 2  # edited in the workspace\n"
    assert w.workspace.get_status(f"{PATH}/scratch").object_type == ObjectType.NOTEBOOK


def test_a_pull_that_conflicts_fails_and_changes_nothing(w, emulator, remote):
    repo, clone = _repo_with_edits(w, remote, emulator)
    first = w.repos.get(repo.id).head_commit_id
    remote.commit_and_push({"conf.yml": "a: 3\n"}, "second")
    with pytest.raises(errors.BadRequest, match="uncommitted changes"):
        w.repos.update(repo.id, branch="main")
    assert w.repos.get(repo.id).head_commit_id == first
    assert (clone / "conf.yml").read_text() == "a: 2  # edited in the workspace\n"


def test_dangerously_force_discard_all_discards_every_uncommitted_change(w, emulator, remote):
    repo, clone = _repo_with_edits(w, remote, emulator)
    second = remote.commit_and_push({"conf.yml": "a: 3\n"}, "second")
    w.repos.update(repo.id, branch="main", dangerously_force_discard_all=True)
    assert w.repos.get(repo.id).head_commit_id == second
    assert (clone / "conf.yml").read_text() == "a: 3\n"
    with pytest.raises(errors.NotFound):
        w.workspace.get_status(f"{PATH}/scratch")


def test_several_git_credentials_one_default_per_provider(w):
    ado = w.git_credentials.create(git_provider="azureDevOpsServices", git_username="me",
                                   personal_access_token="a")
    github = w.git_credentials.create(git_provider="gitHub", personal_access_token="b",
                                      git_email="me@example.com")
    second = w.git_credentials.create(git_provider="gitHub", personal_access_token="c",
                                      name="ci", is_default_for_provider=True)
    listed = {c.credential_id: c for c in w.git_credentials.list()}
    assert set(listed) == {ado.credential_id, github.credential_id, second.credential_id}
    assert listed[ado.credential_id].is_default_for_provider
    assert listed[second.credential_id].is_default_for_provider
    assert not listed[github.credential_id].is_default_for_provider
    assert listed[github.credential_id].git_email == "me@example.com"
    w.git_credentials.update(github.credential_id, git_provider="gitHub",
                             personal_access_token="d")
    after = w.git_credentials.get(ado.credential_id)
    assert (after.git_provider, after.git_username) == ("azureDevOpsServices", "me")
    with pytest.raises(errors.ResourceAlreadyExists):
        w.git_credentials.create(git_provider="gitLab", personal_access_token="e", name="ci")


def test_repos_create_checks_the_git_credential_it_names(w, remote):
    remote.commit_and_push({"a": "a"}, "first")
    w.workspace.mkdirs(f"/Repos/{USER}")
    with pytest.raises(errors.NotFound, match="credential"):
        w.repos.create(url=remote.url, provider="gitHub", path=PATH, git_credential_id=42)
    mine = w.git_credentials.create(git_provider="gitHub", personal_access_token="x")
    assert w.repos.create(url=remote.url, provider="gitHub", path=PATH,
                          git_credential_id=mine.credential_id).path == PATH
