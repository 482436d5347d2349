"""Unit tests of the databricks backend's pure parts; the API calls are tested end to end
against the emulator (tests/e2e/test_databricks_emulator.py)."""

import pytest

from bricksmith.backends.databricks import DatabricksBackend, _source_digest
from bricksmith.backends.databricks_repos import provider_for
from bricksmith.errors import BackendError, GitError


def test_git_provider_from_the_remote_url_never_guessed():
    """Terraform's GetGitProviderFromUrl: exact known hosts only; http(s) only."""
    assert provider_for("https://github.com/me/x.git", None) == "gitHub"
    assert provider_for("https://gitlab.com/me/x.git", None) == "gitLab"
    assert provider_for("https://bitbucket.org/me/x.git", None) == "bitbucketCloud"
    assert provider_for("https://dev.azure.com/org/p/_git/x", None) == "azureDevOpsServices"
    assert provider_for("https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/x",
                        None) == "awsCodeCommit"
    assert provider_for("https://github.example.com/me/x.git",
                        "gitHubEnterprise") == "gitHubEnterprise"
    with pytest.raises(GitError, match="does not know the Git provider of github.example.com"):
        provider_for("https://github.example.com/me/x.git", None)
    with pytest.raises(GitError, match="does not know"):
        provider_for("https://mygithub.com/me/x.git", None)  # no suffix matching
    with pytest.raises(GitError, match="SSH URL"):
        provider_for("git@gitlab.com:me/x.git", None)
    with pytest.raises(GitError, match="SSH URL"):
        provider_for("ssh://git@github.com/me/x.git", "gitHub")
    assert provider_for("/srv/git/x.git", None) == "gitHub"  # the emulator's local remotes


def test_paths_as_notebooks_and_the_api_see_them():
    backend = DatabricksBackend(host="https://h", profile=None, cluster_id=None)
    assert backend.data_path("dbfs:/FileStore/iris/data") == "/dbfs/FileStore/iris/data"
    assert backend.data_path("/Volumes/main/default/v/data/") == "/Volumes/main/default/v/data"
    assert backend._api_path("dbfs:/FileStore/iris/data", "01_raw/iris.csv") == (
        "/FileStore/iris/data/01_raw/iris.csv"
    )
    with pytest.raises(BackendError):
        backend._api_path("dbfs:/FileStore/iris", "../../etc/passwd")
    with pytest.raises(BackendError):
        backend.data_path("s3://bucket/x")


def test_notebook_digest_ignores_trailing_whitespace_a_workspace_adds():
    assert _source_digest("a\nb\n") == _source_digest("a  \nb") != _source_digest("a\nc\n")


def test_describe_names_host_and_profile():
    assert "host https://h" in DatabricksBackend(host="https://h", profile=None,
                                                 cluster_id=None).describe()
    assert "profile dev" in DatabricksBackend(host=None, profile="dev", cluster_id=None).describe()


def test_uploads_are_incremental_whole_and_take_one_put_per_small_file(tmp_path, emulator,
                                                                         monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    source = tmp_path / "data"
    (source / "01_raw" / "deep").mkdir(parents=True)
    (source / "01_raw" / "iris.csv").write_text("a,b\n1,2\n")
    (source / "01_raw" / "deep" / "big.bin").write_bytes(b"x" * (3 << 20))  # 3 blocks
    (source / "notes.txt").write_text("hello")
    backend = DatabricksBackend(host=emulator.url, profile=None, cluster_id=None)
    target = "dbfs:/FileStore/t/data"
    landed = emulator.root / "dbfs/FileStore/t/data"

    first = backend.upload(source, target, {}, lambda message: None)
    assert first["_copied"] == 3
    assert emulator.calls["POST /api/2.0/dbfs/put"] == 2  # the two small files, one call each
    assert emulator.calls["POST /api/2.0/dbfs/add-block"] == 3
    assert (landed / "01_raw/deep/big.bin").read_bytes() == b"x" * (3 << 20)
    assert sorted(p.name for p in landed.rglob("*") if p.is_file()) == [
        "big.bin", "iris.csv", "notes.txt"]

    again = backend.upload(source, target, first, lambda message: None)
    assert again["_copied"] == 0 and emulator.calls["POST /api/2.0/dbfs/put"] == 2

    (source / "notes.txt").write_text("changed")
    third = backend.upload(source, target, again, lambda message: None)
    assert third["_copied"] == 1 and (landed / "notes.txt").read_text() == "changed"
    assert emulator.calls["POST /api/2.0/dbfs/put"] == 3
    assert not [p for p in landed.rglob("*") if "bricksmith-tmp" in p.name]


def test_remove_upload_on_a_volume_keeps_others_files_and_the_volume(tmp_path, emulator,
                                                                     monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    source = tmp_path / "data"
    (source / "01_raw" / "deep").mkdir(parents=True)
    (source / "01_raw" / "iris.csv").write_text("a,b\n1,2\n")
    (source / "01_raw" / "deep" / "x.bin").write_bytes(b"x" * 10)
    backend = DatabricksBackend(host=emulator.url, profile=None, cluster_id=None)
    target = "/Volumes/main/default/v/data"
    outputs = backend.upload(source, target, {}, lambda message: None)
    volume = emulator.root / "Volumes/main/default/v"
    (volume / "data" / "theirs.txt").write_text("kept")
    assert backend.uploaded_present(outputs) == 2

    removal = backend.remove_upload(outputs)
    assert removal.removed == 2 and removal.left == ["theirs.txt"]
    assert sorted(p.name for p in volume.rglob("*")) == ["data", "theirs.txt"]
    assert emulator.calls["DELETE /api/2.0/fs/directories/Volumes/main/default/v/data/01_raw"] == 1

    (volume / "data" / "theirs.txt").unlink()
    assert backend.remove_upload(outputs).removed == 0
    assert not (volume / "data").exists() and volume.is_dir()  # the volume itself stays
