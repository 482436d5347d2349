"""Unit tests of the databricks backend's pure parts; the API calls are tested end to end
against the emulator (tests/e2e/test_databricks_emulator.py)."""

import pytest

from bricksmith.backends.databricks import DatabricksBackend, _source_digest, git_provider
from bricksmith.errors import BackendError


def test_git_provider_from_the_remote_url():
    assert git_provider("https://github.com/me/x.git") == "gitHub"
    assert git_provider("git@gitlab.com:me/x.git") == "gitLab"
    assert git_provider("https://bitbucket.org/me/x.git") == "bitbucketCloud"
    assert git_provider("https://dev.azure.com/org/p/_git/x") == "azureDevOpsServices"
    assert git_provider("/srv/git/x.git") == "gitHub"


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
