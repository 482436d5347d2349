"""Edits made in a Git folder of a `databricks` target, found with the Workspace API (list,
export) through the real databricks-sdk against the emulator: the same shapes as the local
backend's, a few requests for an unchanged folder, a copy kept of what a pull discards."""

from __future__ import annotations

import base64

import pytest

from tests.backends.test_databricks_repos import backend, remote, sync, w  # noqa: F401
from tests.emulator.conftest import USER

LIST, EXPORT = "GET /api/2.0/workspace/list", "GET /api/2.0/workspace/export"
NOTEBOOK = "# Databricks notebook source\nprint(1)\n"


@pytest.fixture
def folder(emulator, remote, monkeypatch, tmp_path):  # noqa: F811
    """A Git folder at a commit holding a file, a nested file and a notebook."""
    first = remote.commit_and_push({"README.md": "one\n", "conf/base/params.yml": "a: 1\n",
                                    "notebooks/explore.py": NOTEBOOK}, "first")
    b = backend(emulator, monkeypatch, tmp_path)
    out = sync(b, remote, first)
    return b, out, emulator.root / f"Workspace/Repos/{USER}/proj"


def test_an_unchanged_folder_costs_a_list_per_folder_and_no_export(folder, emulator, remote):  # noqa: F811
    b, out, _clone = folder
    b.project = remote.work
    emulator.reset_counts()
    assert b.repo_edits(out) == []
    assert emulator.calls[EXPORT] == 0  # sizes and modified_at recorded after the pull
    assert emulator.calls[LIST] == 4  # the folder, conf, conf/base, notebooks
    assert sum(emulator.calls.values()) == 5  # and one repos/get


def test_an_update_to_a_new_commit_without_edits_exports_nothing(folder, emulator, remote):  # noqa: F811
    b, out, clone = folder
    b.project = remote.work
    newer = remote.commit_and_push({"README.md": "two\n"}, "second")
    emulator.reset_counts()
    result = sync(b, remote, newer, previous=out)
    assert result["commit"] == newer and "_kept" not in result
    assert emulator.calls[EXPORT] == 0
    assert (clone / "README.md").read_text() == "two\n"


def test_edits_through_the_workspace_api_have_the_local_shapes(folder, w, remote):  # noqa: F811
    b, out, clone = folder
    b.project = remote.work
    path = out["path"]
    same_size = "a: 2\n"  # a same-size edit: found by its modified_at
    w.workspace.upload(f"{path}/conf/base/params.yml", same_size.encode(), overwrite=True,
                       format=_raw())
    w.workspace.import_(f"{path}/notebooks/explore", language=_python(), overwrite=True,
                        format=_source(), content=base64.b64encode(b"print(2)\n").decode())
    w.workspace.import_(f"{path}/scratch", language=_python(), format=_source(),
                        content=base64.b64encode(b"x = 1\n").decode())
    w.workspace.delete(f"{path}/README.md")
    assert (clone / "conf/base/params.yml").read_text() == same_size  # edited in place
    edits = b.repo_edits(out)
    assert [(e["path"], e["change"]) for e in edits] == [
        ("README.md", "removed"), ("conf/base/params.yml", "modified"),
        ("notebooks/explore.py", "modified"), ("scratch.py", "added")]
    assert all(e["base"] == out["commit"] for e in edits)
    params = edits[1]["diff"]
    assert params.startswith("--- a/conf/base/params.yml\n+++ b/conf/base/params.yml\n")
    assert "-a: 1\n+a: 2\n" in params
    assert "-print(1)\n+print(2)\n" in edits[2]["diff"]
    assert edits[3]["diff"].startswith("--- /dev/null\n")
    assert b.repo_file(out, "scratch.py") == b"# Databricks notebook source\nx = 1\n"
    assert b.repo_file(out, "conf/base/params.yml") == same_size.encode()
    assert b.repo_file(out, "README.md") is None
    assert b.repo_file(out, "../../x") is None
    assert "uncommitted changes: README.md (removed)" in " ".join(b.repo_drift(out))


def test_a_pull_keeps_a_copy_of_what_it_discards(folder, remote, tmp_path):  # noqa: F811
    b, out, clone = folder
    b.project = remote.work
    (clone / "conf/base/params.yml").write_text("a: 22  # edited in the workspace\n")
    (clone / "scratch.py").write_text("# Databricks notebook source\nprint(3)\n")
    newer = remote.commit_and_push({"README.md": "two\n"}, "second")
    messages: list[str] = []
    result = sync(b, remote, newer, log=messages.append)
    assert result["commit"] == newer
    assert (clone / "README.md").read_text() == "two\n"
    assert (clone / "conf/base/params.yml").read_text() == "a: 1\n"
    assert not (clone / "scratch.py").exists()  # removed after its copy was kept
    kept = tmp_path / "kept"
    [copy] = kept.iterdir()
    assert result["_kept"] == str(copy)
    assert sorted(result["_kept_files"]) == ["conf/base/params.yml", "scratch.py"]
    assert (copy / "conf/base/params.yml").read_text().startswith("a: 22")
    assert "print(3)" in (copy / "scratch.py").read_text()
    assert b.repo_edits(result) == []


def test_a_folder_whose_commit_the_project_lacks_shows_no_edits_and_keeps_them(
        folder, remote, tmp_path):  # noqa: F811
    b, out, clone = folder
    b.project = tmp_path / "elsewhere"  # not a git repository: edits cannot be told apart
    (clone / "conf/base/params.yml").write_text("a: 5\n")
    assert b.repo_edits(out) == []
    newer = remote.commit_and_push({"README.md": "two\n"}, "second")
    b.sync_repo(name="proj", location=remote.url, branch="main", commit=newer,
                token_env=None, project=tmp_path / "elsewhere")
    assert (clone / "conf/base/params.yml").read_text() == "a: 5\n"  # the pull kept it
    assert (clone / "README.md").read_text() == "two\n"


def _raw():
    from databricks.sdk.service.workspace import ImportFormat

    return ImportFormat.RAW


def _source():
    from databricks.sdk.service.workspace import ImportFormat

    return ImportFormat.SOURCE


def _python():
    from databricks.sdk.service.workspace import Language

    return Language.PYTHON
