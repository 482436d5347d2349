"""Data uploads (issues 15.6-15.9, 21.8): symlinks, verified copies, content drift, moved
targets and long names, on the local backend and on the emulator through databricks-sdk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bricksmith.backends import databricks_data, filesync
from bricksmith.backends.databricks import DatabricksBackend
from bricksmith.backends.local import LocalBackend
from bricksmith.emulator import FaultPolicy
from bricksmith.errors import DataSyncError

ADD_BLOCK = "POST /api/2.0/dbfs/add-block"


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "proj"
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "iris.csv").write_text("a,b\n1,2\n")
    (root / "shared" / "lookup").mkdir(parents=True)
    (root / "shared" / "lookup" / "table.csv").write_text("k,v\n")
    (root / "shared" / "single.csv").write_text("x,y\n")
    return root


@pytest.fixture
def local(tmp_path) -> LocalBackend:
    return LocalBackend(tmp_path / "root", "alice@example.com")


def refused(source: Path, within: Path) -> str:
    with pytest.raises(DataSyncError) as caught:
        filesync.scan(source, within=within)
    with pytest.raises(DataSyncError):  # plan says the same, before anything is read
        filesync.check_source(source, within)
    return str(caught.value)


# -- symlinks (15.6) -------------------------------------------------------------------------


def test_links_inside_the_project_are_followed_files_and_folders(project):
    raw = project / "data" / "01_raw"
    (raw / "single_link.csv").symlink_to("../../shared/single.csv")
    (raw / "lookup_dir").symlink_to("../../shared/lookup")
    manifest = filesync.scan(project / "data", within=project)
    assert sorted(manifest) == ["01_raw/iris.csv", "01_raw/lookup_dir/table.csv",
                                "01_raw/single_link.csv"]
    assert manifest["01_raw/single_link.csv"]["size"] == 4
    age(project)
    probes = filesync.check_source(project / "data", project)
    assert ["dir", f"{project}/data/01_raw/lookup_dir", 10**18] in probes


@pytest.mark.parametrize("link, target", [
    ("env.txt", "/proc/self/environ"), ("passwd.csv", "/etc/passwd"), ("etc", "/etc/apt")])
def test_a_link_leaving_the_project_is_refused_naming_it(project, link, target):
    (project / "data" / "01_raw" / link).symlink_to(target)
    message = refused(project / "data", project)
    assert f"data source entry data/01_raw/{link}: leads outside the project" in message


def test_a_data_source_that_is_itself_a_link_out_of_the_project_is_refused(project):
    (project / "etc-link").symlink_to("/etc/apt")
    assert "data source entry etc-link: leads outside the project, to /etc/apt" in refused(
        project / "etc-link", project)


@pytest.mark.parametrize("make, problem", [
    (lambda raw: (raw / "dangling.csv").symlink_to("does-not-exist.csv"),
     "data/01_raw/dangling.csv: is a dangling link (to does-not-exist.csv)"),
    (lambda raw: (raw / "loop.csv").symlink_to("loop.csv"),
     "data/01_raw/loop.csv: has too many levels of symbolic links"),
    (lambda raw: (raw / "up").symlink_to(".."),
     "data/01_raw/up: links back to"),
    (lambda raw: os.mkfifo(raw / "pipe.csv"),
     "data/01_raw/pipe.csv: is neither a file nor a folder"),
])
def test_dangling_links_loops_and_odd_entries_are_located_errors(project, make, problem):
    make(project / "data" / "01_raw")
    assert problem in refused(project / "data", project)


def test_an_upload_refuses_a_link_out_of_the_project_and_copies_nothing(project, local):
    (project / "data" / "01_raw" / "env.txt").symlink_to("/proc/self/environ")
    with pytest.raises(DataSyncError, match="env.txt: leads outside the project"):
        local.upload(project / "data", "dbfs:/FileStore/d", {}, print, within=project)
    assert not (local.root / "dbfs").exists()


# -- names at the limits (21.8) ----------------------------------------------------------------


def test_a_file_name_of_255_bytes_uploads_and_stays_up_to_date(project, local):
    for length in (241, 251):  # the name with ".csv": 245 and 255 bytes
        (project / "data" / ("L" * length + ".csv")).write_text("x\n")
    out = local.upload(project / "data", "dbfs:/FileStore/d", {}, print, within=project)
    assert out["_copied"] == 3
    assert (Path(out["location"]) / ("L" * 251 + ".csv")).read_text() == "x\n"
    assert local.upload_drift(project / "data", out, within=project) == []
    again = local.upload(project / "data", "dbfs:/FileStore/d", out, print, within=project)
    assert again["_copied"] == 0


# -- content drift (15.8) ----------------------------------------------------------------------


def age(folder: Path) -> None:
    """Date ``folder`` and everything in it long ago: their stamps can be trusted."""
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, ns=(10**18, 10**18))


def test_a_copy_changed_with_the_same_size_is_drift_and_uploaded_again(project, local):
    source = project / "data"
    age(source)
    out = local.upload(source, "dbfs:/FileStore/d", {}, print, within=project)
    copy = Path(out["location"], "01_raw/iris.csv")
    copy.write_text("a,b\n9,9\n")  # same size, other bytes
    assert local.upload_drift(source, out, within=project) == [
        "uploaded file missing or changed: dbfs:/FileStore/d/01_raw/iris.csv"]
    fixed = local.upload(source, "dbfs:/FileStore/d", out, print, within=project)
    assert fixed["_copied"] == 1 and copy.read_text() == "a,b\n1,2\n"

    os.utime(copy, ns=(1, 1))  # touched only: the checksum says it is as uploaded
    assert local.upload_drift(source, fixed, within=project) == []
    probes = local.upload_probes(source, fixed, within=project)
    assert ["file", str(copy), 8, 1] in probes  # what the check saw: a memo replays it


def test_an_upload_recorded_without_copy_times_still_checks_sizes(project, local):
    age(project / "data")
    out = local.upload(project / "data", "dbfs:/FileStore/d", {}, print, within=project)
    legacy = {k: v for k, v in out.items() if k != "_copies"}
    assert local.upload_drift(project / "data", legacy, within=project) == []
    assert ["size", f"{out['location']}/01_raw/iris.csv", 8] in local.upload_probes(
        project / "data", legacy, within=project)


# -- moved targets and interrupted uploads (15.9) ----------------------------------------------


def test_a_target_moved_away_and_back_keeps_no_deleted_file(project, local):
    source, parts = project / "data", project / "data" / "parts"
    parts.mkdir()
    (parts / "part-1.csv").write_text("1\n")
    (parts / "part-2.csv").write_text("2\n")
    messages: list[str] = []
    at_a = local.upload(source, "dbfs:/FileStore/s/A", {}, messages.append, within=project)
    at_b = local.upload(source, "dbfs:/FileStore/s/B", at_a, messages.append, within=project)
    assert not (local.root / "dbfs/FileStore/s/A").exists()
    assert "moved from dbfs:/FileStore/s/A to dbfs:/FileStore/s/B: removed 3 file(s)" in (
        messages[-2])
    (parts / "part-2.csv").unlink()
    back = local.upload(source, "dbfs:/FileStore/s/A", at_b, messages.append, within=project)
    assert sorted(filesync.tree_sizes(local.root / "dbfs/FileStore/s")) == [
        "A/01_raw/iris.csv", "A/parts/part-1.csv"]
    assert local.remove_upload(back).removed == 2
    assert not (local.root / "dbfs/FileStore/s").exists()


def test_a_moved_target_leaves_and_names_files_bricksmith_did_not_write(project, local):
    at_a = local.upload(project / "data", "dbfs:/FileStore/s/A", {}, print, within=project)
    (local.root / "dbfs/FileStore/s/A/theirs.csv").write_text("mine\n")
    messages: list[str] = []
    local.upload(project / "data", "dbfs:/FileStore/s/B", at_a, messages.append, within=project)
    assert "left 1 file(s) bricksmith did not write" in messages[0]
    assert (local.root / "dbfs/FileStore/s/A/theirs.csv").read_text() == "mine\n"


def test_an_upload_checkpoints_every_file_it_may_write_or_delete_first(project, local):
    source = project / "data"
    (source / "old.csv").write_text("old\n")
    first = local.upload(source, "dbfs:/FileStore/d", {}, print, within=project)
    (source / "old.csv").unlink()
    (source / "new.csv").write_text("new\n")
    saved: list[dict] = []
    local.upload(source, "dbfs:/FileStore/d", first, print, within=project,
                 checkpoint=saved.append)
    assert sorted(saved[0]["_manifest"]) == ["01_raw/iris.csv", "new.csv", "old.csv"]
    assert saved[0]["_copies"] == {} and "_stamps" not in saved[0]
    # a resume from that checkpoint deletes old.csv and trusts no copy without its checksum
    resumed = local.upload(source, "dbfs:/FileStore/d", saved[0], print, within=project)
    assert sorted(filesync.tree_sizes(local.root / "dbfs/FileStore/d")) == [
        "01_raw/iris.csv", "new.csv"]
    assert resumed["_copied"] == 0


# -- on the emulator, through databricks-sdk ---------------------------------------------------


@pytest.fixture
def remote(emulator, monkeypatch) -> DatabricksBackend:
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    return DatabricksBackend(host=emulator.url, profile=None, cluster_id=None)


def test_a_retried_block_that_landed_twice_is_caught_and_streamed_again(
        project, emulator, remote):
    data = os.urandom((2 << 20) + 12345)  # three blocks
    (project / "data" / "big.bin").write_bytes(data)
    emulator.set_faults(FaultPolicy(drop_after_rate=1.0, max_faults=1,
                                    drop_after_on=(ADD_BLOCK,)))
    out = remote.upload(project / "data", "dbfs:/FileStore/v", {}, print, within=project)
    assert emulator.faults_injected == 1  # the SDK re-sent a block the emulator had written
    landed = emulator.root / "dbfs/FileStore/v/big.bin"
    assert landed.read_bytes() == data  # not 1 MiB too long
    assert emulator.calls[ADD_BLOCK] == 3 + 1 + 3  # the corrupt stream, its retry, a new one
    assert not [p for p in landed.parent.iterdir() if "bricksmith-tmp" in p.name]
    assert remote.upload_drift(project / "data", out, within=project) == []


def test_a_copy_that_never_verifies_fails_the_upload_and_keeps_the_old_file(
        project, emulator, remote, monkeypatch):
    (project / "data" / "big.bin").write_bytes(b"a" * ((1 << 20) + 1))
    out = remote.upload(project / "data", "dbfs:/FileStore/v", {}, print, within=project)
    (project / "data" / "big.bin").write_bytes(b"b" * ((1 << 20) + 1))
    # every read-back disagrees (a workspace that corrupts each stream)
    monkeypatch.setattr(databricks_data, "_dbfs_sha256", lambda dbfs, path: "0" * 64)
    with pytest.raises(DataSyncError, match="failed its check 3 times"):
        remote.upload(project / "data", "dbfs:/FileStore/v", out, print, within=project)
    folder = emulator.root / "dbfs/FileStore/v"
    assert (folder / "big.bin").read_bytes() == b"a" * ((1 << 20) + 1)
    assert sorted(p.name for p in folder.iterdir()) == ["01_raw", "big.bin"]
    assert emulator.calls["POST /api/2.0/dbfs/create"] == 1 + 3


def test_dbfs_drift_is_content_not_size(project, emulator, remote):
    source = project / "data"
    out = remote.upload(source, "dbfs:/FileStore/c", {}, print, within=project)
    assert out["_copies"]["01_raw/iris.csv"] > 0
    copy = emulator.root / "dbfs/FileStore/c/01_raw/iris.csv"
    os.utime(copy, ns=(10**18, 10**18))  # touched: read back, same bytes, no drift
    assert remote.upload_drift(source, out, within=project) == []
    copy.write_text("a,b\n7,7\n")  # same size, other bytes
    assert remote.upload_drift(source, out, within=project) == [
        "uploaded file missing or changed: dbfs:/FileStore/c/01_raw/iris.csv"]
    fixed = remote.upload(source, "dbfs:/FileStore/c", out, print, within=project)
    assert fixed["_copied"] == 1 and copy.read_text() == "a,b\n1,2\n"
    assert remote.upload_drift(source, fixed, within=project) == []


def test_a_remote_target_moved_away_and_back_keeps_no_deleted_file(project, emulator, remote):
    source, parts = project / "data", project / "data" / "parts"
    parts.mkdir()
    (parts / "part-1.csv").write_text("1\n")
    (parts / "part-2.csv").write_text("2\n")
    at_a = remote.upload(source, "dbfs:/FileStore/s/A", {}, print, within=project)
    at_b = remote.upload(source, "dbfs:/FileStore/s/B", at_a, print, within=project)
    (parts / "part-2.csv").unlink()
    back = remote.upload(source, "dbfs:/FileStore/s/A", at_b, print, within=project)
    assert sorted(filesync.tree_sizes(emulator.root / "dbfs/FileStore/s")) == [
        "A/01_raw/iris.csv", "A/parts/part-1.csv"]
    assert remote.remove_upload(back).removed == 2


# -- which workflow uploads where (15.9) -------------------------------------------------------


def test_owner_records_live_outside_the_data_folders():
    from bricksmith.backends import owners

    assert owners.registry("dbfs:/FileStore/iris/data/") == "/FileStore/.bricksmith/owners"
    assert owners.registry("/Volumes/main/default/v/x/y") == (
        "/Volumes/main/default/v/.bricksmith/owners")
    assert owners.record_path("dbfs:/FileStore/a") == owners.record_path("dbfs:/FileStore/a/")
    assert owners.overlaps("/FileStore/a", "/FileStore/a/b")
    assert not owners.overlaps("/FileStore/a", "/FileStore/ab")


@pytest.mark.parametrize("theirs", ["dbfs:/FileStore/s/A", "dbfs:/FileStore/s",
                                    "dbfs:/FileStore/s/A/sub"])
def test_a_second_workflow_syncing_an_overlapping_folder_is_refused(project, local, theirs):
    alpha = local.upload(project / "data", "dbfs:/FileStore/s/A", {}, print, within=project,
                         workflow="alpha")
    with pytest.raises(DataSyncError, match="upload target of workflow 'alpha'") as caught:
        local.check_upload_owner(theirs, "beta")
    assert ".bricksmith/owners/" in caught.value.hint
    with pytest.raises(DataSyncError):
        local.upload(project / "data", theirs, {}, print, within=project, workflow="beta")
    local.check_upload_owner("dbfs:/FileStore/s/B", "beta")  # its own folder: fine
    local.check_upload_owner("dbfs:/FileStore/s/A", "alpha")  # alpha again: fine
    # destroy drops the record with the files: beta may use the folder now
    assert local.remove_upload({**alpha, "_workflow": "alpha"}).removed == 1
    local.check_upload_owner(theirs, "beta")
    assert not (local.root / "dbfs").exists()


def test_a_moved_target_takes_its_owner_record_along(project, local):
    at_a = local.upload(project / "data", "dbfs:/FileStore/s/A", {}, print, within=project,
                        workflow="alpha")
    local.upload(project / "data", "dbfs:/FileStore/s/B", {**at_a, "_workflow": "alpha"},
                 print, within=project, workflow="alpha")
    local.check_upload_owner("dbfs:/FileStore/s/A", "beta")
    with pytest.raises(DataSyncError):
        local.check_upload_owner("dbfs:/FileStore/s/B", "beta")


def test_owner_records_on_the_emulator_refuse_a_second_workflow(project, emulator, remote):
    out = remote.upload(project / "data", "/Volumes/main/default/v/alpha", {}, print,
                        within=project, workflow="alpha")
    record = emulator.root / "Volumes/main/default/v/.bricksmith/owners"
    assert [p.suffix for p in record.iterdir()] == [".json"]
    with pytest.raises(DataSyncError, match="workflow 'alpha'"):
        remote.check_upload_owner("/Volumes/main/default/v/alpha/part", "beta")
    remote.upload(project / "data", "dbfs:/FileStore/beta", {}, print, within=project,
                  workflow="beta")
    with pytest.raises(DataSyncError, match="workflow 'beta'"):
        remote.upload(project / "data", "dbfs:/FileStore/beta", {}, print, within=project,
                      workflow="gamma")
    remote.remove_upload({**out, "_workflow": "alpha"})
    assert not record.exists() or not list(record.iterdir())
    remote.check_upload_owner("/Volumes/main/default/v/alpha", "beta")


def test_a_255_byte_name_uploads_to_dbfs_small_or_streamed(project, emulator, remote):
    small, big = "S" * 251 + ".csv", "B" * 251 + ".bin"
    (project / "data" / small).write_text("x\n")
    (project / "data" / big).write_bytes(b"y" * ((1 << 20) + 7))
    out = remote.upload(project / "data", "dbfs:/FileStore/long", {}, print, within=project)
    folder = emulator.root / "dbfs/FileStore/long"
    assert (folder / small).read_text() == "x\n"
    assert (folder / big).stat().st_size == (1 << 20) + 7
    assert remote.upload_drift(project / "data", out, within=project) == []


def test_a_block_whose_outcome_is_unknown_restarts_the_stream(project, emulator, remote,
                                                              monkeypatch):
    """Found by the reliability suite: a 502 replacing the answer of a processed add-block
    ("whether it took effect is not known") failed the upload on every apply; the stream goes
    to a fresh temporary file, so streaming it all again is safe."""
    from bricksmith.backends.databricks_http import ServerErrorUnconfirmed

    data = os.urandom((2 << 20) + 777)
    (project / "data" / "big.bin").write_bytes(data)
    dbfs = remote.client.dbfs
    real, failed = dbfs.add_block, []

    def add_block(handle, block):
        real(handle, block)  # processed by the workspace ...
        if not failed:  # ... and then its answer is lost, once
            failed.append(handle)
            raise ServerErrorUnconfirmed(RuntimeError("502 Bad Gateway"),
                                         "POST /api/2.0/dbfs/add-block")

    monkeypatch.setattr(dbfs, "add_block", add_block)
    out = remote.upload(project / "data", "dbfs:/FileStore/u", {}, print, within=project)
    landed = emulator.root / "dbfs/FileStore/u/big.bin"
    assert failed and landed.read_bytes() == data
    assert not [p for p in landed.parent.iterdir() if "bricksmith-tmp" in p.name]
    assert remote.upload_drift(project / "data", out, within=project) == []
