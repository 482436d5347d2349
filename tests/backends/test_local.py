from pathlib import Path

import pytest

from bricksmith.backends.local import TMP_SUFFIX, LocalBackend
from bricksmith.errors import BackendError


@pytest.fixture
def backend(tmp_path):
    return LocalBackend(tmp_path / "root", "alice@example.com")


def test_paths_map_into_the_root(backend, tmp_path):
    root = tmp_path / "root"
    assert backend.repo_path("iris") == str(root / "Workspace/Repos/alice@example.com/iris")
    assert backend.data_path("dbfs:/FileStore/iris/data") == str(root / "dbfs/FileStore/iris/data")
    assert backend.data_path("/Volumes/main/default/v/x") == str(root / "Volumes/main/default/v/x")
    with pytest.raises(BackendError):
        backend.data_path("dbfs:/../../etc")
    with pytest.raises(BackendError):
        backend.data_path("s3://bucket/x")


def test_upload_copies_then_skips_unchanged_and_reports_drift(backend, tmp_path):
    source = tmp_path / "data"
    (source / "01_raw").mkdir(parents=True)
    (source / "01_raw" / "iris.csv").write_text("a,b\n1,2\n")
    (source / "02_intermediate").mkdir()
    (source / "02_intermediate" / ".gitkeep").write_text("")
    messages = []
    first = backend.upload(source, "dbfs:/FileStore/iris/data", {}, messages.append)
    dest = Path(first["location"])
    assert (dest / "01_raw" / "iris.csv").read_text() == "a,b\n1,2\n"
    assert first["_copied"] == 2 and first["files"] == 2
    assert not list(dest.rglob(f"*{TMP_SUFFIX}"))
    assert backend.upload_drift(source, first) == []

    second = backend.upload(source, "dbfs:/FileStore/iris/data", first, messages.append)
    assert second["_copied"] == 0 and second["digest"] == first["digest"]

    (source / "01_raw" / "iris.csv").write_text("a,b\n1,3\n")
    assert backend.upload_drift(source, second) == ["source file changed: 01_raw/iris.csv"]
    third = backend.upload(source, "dbfs:/FileStore/iris/data", second, messages.append)
    assert third["_copied"] == 1 and third["digest"] != second["digest"]

    (dest / "01_raw" / "iris.csv").unlink()
    assert backend.upload_drift(source, third) == [
        "uploaded file missing or changed: dbfs:/FileStore/iris/data/01_raw/iris.csv"
    ]
    (source / "02_intermediate" / ".gitkeep").unlink()
    fourth = backend.upload(source, "dbfs:/FileStore/iris/data", third, messages.append)
    assert not (dest / "02_intermediate" / ".gitkeep").exists()
    assert (dest / "01_raw" / "iris.csv").exists() and fourth["files"] == 1


def test_deploy_notebook_overwrites_and_detects_edits(backend):
    path = backend.notebook_path("iris")
    out = backend.deploy_notebook(path, "# Databricks notebook source\nprint(1)\n")
    assert Path(out["file"]).read_text().startswith("# Databricks notebook source")
    assert backend.notebook_drift(out) == []
    Path(out["file"]).write_text("edited")
    assert backend.notebook_drift(out) == [f"notebook {path} was edited in the workspace"]
    Path(out["file"]).unlink()
    assert backend.notebook_drift(out) == [f"notebook {path} is missing"]


def test_temp_files_of_an_interrupted_upload_are_drift_and_removed(backend, tmp_path):
    source = tmp_path / "data"
    source.mkdir()
    (source / "a.csv").write_text("1\n")
    first = backend.upload(source, "dbfs:/d", {}, lambda m: None)
    leftover = Path(first["location"]) / f"b.csv{TMP_SUFFIX}"
    leftover.write_text("half a fi")
    assert backend.upload_drift(source, first) == [
        f"temporary files of an interrupted upload: b.csv{TMP_SUFFIX}"
    ]
    backend.upload(source, "dbfs:/d", first, lambda m: None)
    assert not leftover.exists()


def test_remove_upload_deletes_its_files_and_emptied_folders_only(backend, tmp_path):
    source = tmp_path / "data"
    (source / "01_raw").mkdir(parents=True)
    (source / "01_raw" / "iris.csv").write_text("a\n")
    (source / "02_intermediate").mkdir()
    (source / "02_intermediate" / ".gitkeep").write_text("")
    outputs = backend.upload(source, "dbfs:/FileStore/iris/data", {}, lambda message: None)
    dest = Path(outputs["location"])
    (dest / "01_raw" / "other.csv").write_text("someone else's\n")
    (dest / "02_intermediate" / f"x{TMP_SUFFIX}").write_text("half")
    assert backend.uploaded_present(outputs) == 3

    removal = backend.remove_upload(outputs)
    assert removal.removed == 3 and removal.left == ["01_raw/other.csv"]
    assert not (dest / "02_intermediate").exists() and (dest / "01_raw" / "other.csv").exists()
    assert backend.uploaded_present(outputs) == 0
    assert backend.remove_upload(outputs).removed == 0  # again: nothing left of ours


def test_remove_repo_and_notebook_stay_inside_the_root(backend, tmp_path):
    outputs = backend.deploy_notebook(backend.notebook_path("iris"), "# Databricks notebook source")
    (Path(outputs["file"]).parent / "run.log").write_text("a run's output")
    assert backend.notebook_exists(outputs)
    assert backend.remove_notebook(outputs).removed == 1
    assert not (tmp_path / "root/Workspace").exists()  # emptied parents pruned, root kept
    assert (tmp_path / "root").is_dir()
    assert backend.remove_notebook(outputs).removed == 0 and not backend.notebook_exists(outputs)

    elsewhere = tmp_path / "project"
    elsewhere.mkdir()
    with pytest.raises(BackendError, match="not inside"):
        backend.remove_repo({"path": str(elsewhere)})
    with pytest.raises(BackendError, match="not inside"):
        backend.remove_repo({"path": str(tmp_path / "root/Workspace/Repos/../../../project")})
    assert elsewhere.is_dir()


def test_drift_of_an_unchanged_upload_is_one_stat_per_folder_and_file(
    backend, tmp_path, monkeypatch
):
    import os
    import time

    source = tmp_path / "data"
    (source / "01_raw").mkdir(parents=True)
    (source / "01_raw" / "iris.csv").write_text("a,b\n1,2\n")
    then = time.time() - 3600
    for path in (source, source / "01_raw", source / "01_raw" / "iris.csv"):
        os.utime(path, (then, then))
    outputs = backend.upload(source, "dbfs:/d", {}, lambda m: None)
    assert sorted(outputs["_stamps"]) == ["", "01_raw"]

    listed = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(path) or real(path))
    assert backend.upload_drift(source, outputs) == []
    assert listed == []

    (Path(outputs["location"]) / "01_raw" / "iris.csv").write_text("cut")
    assert backend.upload_drift(source, outputs) == [
        "uploaded file missing or changed: dbfs:/d/01_raw/iris.csv"
    ]
    (source / "01_raw" / "new.csv").write_text("x\n")
    assert "source file changed: 01_raw/new.csv" in backend.upload_drift(source, outputs)


def resume(backend, tmp_path, previous, fingerprint="fp"):
    checkpoints, messages = [], []
    outcome = backend.run_notebook(
        notebook=str(tmp_path / "nb"), run_name="baseline", widgets={},
        requirements=str(tmp_path / "no-requirements.txt"),  # a resume builds nothing
        log_dir=tmp_path / "root/logs/runs", timeout_s=60, checkpoint=checkpoints.append,
        previous=previous, log=messages.append, fingerprint=fingerprint,
    )
    return outcome, checkpoints, messages


def test_a_finished_run_of_a_killed_apply_is_adopted_not_run_again(backend, tmp_path):
    from bricksmith.backends.run_sandbox import RunSandbox

    result = RunSandbox.under(tmp_path / "root", "baseline").result_file
    result.parent.mkdir(parents=True)
    result.write_text('{"ok": true, "exit_value": "{\\"accuracy\\": 0.9}"}')
    previous = {"_pending": True, "_fingerprint": "fp", "_result": str(result),
                "_environment": "abc", "_kernel": {"pid": 2**22 + 7, "start": 1}}
    outcome, checkpoints, messages = resume(backend, tmp_path, previous)
    assert outcome.ok and outcome.exit_value == '{"accuracy": 0.9}'
    assert outcome.details == {"environment": "abc", "reattached": True}
    assert checkpoints == []  # pending until the step records the result
    assert any("adopted the result" in m for m in messages)

    result.write_text('{"ok": false, "error": "cell 3: ValueError: x"}')
    outcome, checkpoints, _ = resume(backend, tmp_path, previous)
    assert not outcome.ok and outcome.error == "cell 3: ValueError: x"
    assert checkpoints[-1]["_pending"] is False  # a failed run is run again next time

    # another fingerprint (the run's params changed): never adopted; the run starts again
    with pytest.raises(BackendError, match="no-requirements.txt not found"):
        resume(backend, tmp_path, previous, fingerprint="other")
