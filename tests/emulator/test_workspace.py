"""The current user and the Workspace API, through the real databricks-sdk."""

import base64

import pytest
from databricks.sdk import errors
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from tests.emulator.conftest import USER, b64, notebook

HOME = f"/Users/{USER}"


def put(w, path: str, text: str, **options) -> None:
    """Import ``text`` as a Python notebook in SOURCE format."""
    w.workspace.import_(
        path, content=b64(text), format=ImportFormat.SOURCE, language=Language.PYTHON, **options
    )


def test_current_user(w, emulator):
    me = w.current_user.me()
    assert me.user_name == USER == emulator.user
    assert me.id and me.display_name


def test_import_source_then_export_round_trip(w, emulator):
    source = notebook("print(1)", "%md\n# not code")
    w.workspace.mkdirs(f"{HOME}/x")
    put(w, f"{HOME}/x/run", source)
    exported = w.workspace.export(f"{HOME}/x/run", format=ExportFormat.SOURCE)
    assert base64.b64decode(exported.content).decode() == source
    assert (emulator.root / "Workspace" / "Users" / USER / "x" / "run.py").read_text() == source

    info = w.workspace.get_status(f"/Workspace{HOME}/x/run")  # both spellings name it
    assert info.object_type == ObjectType.NOTEBOOK and info.language == Language.PYTHON
    assert info.path == f"{HOME}/x/run" and info.object_id
    assert w.workspace.get_status(f"{HOME}/x/run").object_id == info.object_id

    # Without the header line, SOURCE content still becomes a notebook (Databricks adds it).
    put(w, f"{HOME}/x/bare", "print(2)\n")
    bare = base64.b64decode(w.workspace.export(f"{HOME}/x/bare").content).decode()
    assert bare.startswith("# Databricks notebook source\n") and "print(2)" in bare


def test_import_overwrite_rules_and_errors(w):
    path = f"{HOME}/nb"
    put(w, path, "a=1")
    with pytest.raises(errors.ResourceAlreadyExists):
        put(w, path, "a=2")
    put(w, path, "a=3", overwrite=True)
    assert "a=3" in base64.b64decode(w.workspace.export(path).content).decode()

    with pytest.raises(errors.NotFound, match="parent folder"):
        put(w, f"{HOME}/missing/nb", "x")
    with pytest.raises(errors.BadRequest, match="language"):
        w.workspace.import_(f"{HOME}/nolang", content=b64("x"), format=ImportFormat.SOURCE)
    with pytest.raises(errors.NotFound):
        w.workspace.export(f"{HOME}/nothing")
    with pytest.raises(errors.NotImplemented):
        w.workspace.import_(f"{HOME}/j", content=b64("{}"), format=ImportFormat.JUPYTER)


def test_list_mkdirs_delete(w):
    w.workspace.mkdirs(f"{HOME}/a/b/c")
    put(w, f"{HOME}/a/nb", "1")
    w.workspace.upload(f"{HOME}/a/data.txt", b"plain", format=ImportFormat.AUTO)
    listed = {o.path: o.object_type for o in w.workspace.list(f"{HOME}/a")}
    assert listed == {
        f"{HOME}/a/b": ObjectType.DIRECTORY,
        f"{HOME}/a/nb": ObjectType.NOTEBOOK,
        f"{HOME}/a/data.txt": ObjectType.FILE,
    }
    assert w.workspace.download(f"{HOME}/a/data.txt").read() == b"plain"
    assert w.workspace.get_status(f"{HOME}/a/data.txt").size == 5

    with pytest.raises(errors.ResourceAlreadyExists):
        w.workspace.mkdirs(f"{HOME}/a/nb/below")
    with pytest.raises(errors.BadRequest):
        w.workspace.delete(f"{HOME}/a")  # not empty
    w.workspace.delete(f"{HOME}/a/nb")
    w.workspace.delete(f"{HOME}/a", recursive=True)
    with pytest.raises(errors.NotFound):
        w.workspace.get_status(f"{HOME}/a")
    with pytest.raises(errors.NotFound):
        w.workspace.delete(f"{HOME}/a")


def test_auto_upload_of_a_notebook_file_drops_its_extension(w):
    w.workspace.upload(f"{HOME}/job.py", notebook("print(3)").encode(), format=ImportFormat.AUTO)
    info = w.workspace.get_status(f"{HOME}/job")
    assert info.object_type == ObjectType.NOTEBOOK and info.language == Language.PYTHON


def test_symbolic_links_out_of_the_workspace_lead_nowhere(w, emulator, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    home = emulator.root / "Workspace" / "Users" / USER
    (home / "link.txt").symlink_to(outside)
    (home / "folder").symlink_to(tmp_path)
    with pytest.raises(errors.NotFound):
        w.workspace.export(f"{HOME}/link.txt")
    with pytest.raises(errors.NotFound):
        w.workspace.get_status(f"{HOME}/folder/outside.txt")
