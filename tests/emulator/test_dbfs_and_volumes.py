"""DBFS (streaming uploads, list, read, move, delete) and the Files API on volumes."""

import base64
import io

import pytest
from databricks.sdk import errors
from databricks.sdk.service.files import DbfsAPI, FilesAPI

BIG = bytes(range(256)) * 10_000  # 2.56 MB: three blocks


def test_streaming_upload_appears_only_at_close(w, emulator):
    disk = emulator.root / "dbfs" / "FileStore" / "up" / "data.bin"
    handle = w.dbfs.create("dbfs:/FileStore/up/data.bin", overwrite=False).handle
    for start in range(0, len(BIG), 1024 * 1024):
        w.dbfs.add_block(handle, base64.b64encode(BIG[start : start + 1024 * 1024]).decode())
        assert not disk.exists()
    w.dbfs.close(handle)
    assert disk.read_bytes() == BIG
    assert not list((emulator.root / ".emulator").iterdir())  # no scratch file left behind

    with pytest.raises(errors.ResourceAlreadyExists):
        w.dbfs.create("/FileStore/up/data.bin")
    with pytest.raises(errors.NotFound):
        w.dbfs.add_block(handle, "")  # closed
    big_block = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    handle = w.dbfs.create("/FileStore/up/other.bin", overwrite=True).handle
    with pytest.raises(errors.BadRequest, match="1 MB"):
        w.dbfs.add_block(handle, big_block)


def test_sdk_upload_list_status_read_move_delete(w):
    w.dbfs.upload("/FileStore/d/a.bin", io.BytesIO(BIG), overwrite=True)
    w.dbfs.put("/FileStore/d/sub/b.txt", contents=base64.b64encode(b"bee").decode())
    status = w.dbfs.get_status("/FileStore/d/a.bin")
    assert (status.path, status.is_dir, status.file_size) == ("/FileStore/d/a.bin", False, len(BIG))
    assert status.modification_time > 0
    listed = {f.path: (f.is_dir, f.file_size) for f in w.dbfs.list("/FileStore/d")}
    assert listed == {"/FileStore/d/a.bin": (False, len(BIG)), "/FileStore/d/sub": (True, 0)}
    deep = {f.path for f in w.dbfs.list("dbfs:/FileStore/d", recursive=True)}
    assert deep == {"/FileStore/d/a.bin", "/FileStore/d/sub/b.txt"}

    part = w.dbfs.read("/FileStore/d/a.bin", offset=256, length=512)
    assert part.bytes_read == 512 and base64.b64decode(part.data) == BIG[256:768]
    assert w.dbfs.read("/FileStore/d/a.bin", offset=len(BIG)).bytes_read == 0
    assert w.dbfs.download("/FileStore/d/a.bin").read() == BIG
    with pytest.raises(errors.BadRequest):
        w.dbfs.read("/FileStore/d/a.bin", length=2 * 1024 * 1024)
    with pytest.raises(errors.NotFound):
        w.dbfs.get_status("/FileStore/nothing")

    with pytest.raises(errors.ResourceAlreadyExists):
        w.dbfs.move("/FileStore/d/a.bin", "/FileStore/d/sub/b.txt")
    w.dbfs.move("/FileStore/d/a.bin", "/FileStore/e/a.bin")
    assert not w.dbfs.exists("/FileStore/d/a.bin") and w.dbfs.exists("/FileStore/e/a.bin")

    with pytest.raises(errors.BadRequest):  # not empty (w.dbfs.delete refuses it client-side)
        DbfsAPI(w.api_client).delete("/FileStore/d", recursive=False)
    w.dbfs.delete("/FileStore/d", recursive=True)
    w.dbfs.delete("/FileStore/d/never-there")  # deleting a missing path succeeds
    w.dbfs.mkdirs("/FileStore/made/deep")
    assert w.dbfs.get_status("/FileStore/made/deep").is_dir
    with pytest.raises(errors.ResourceAlreadyExists):
        w.dbfs.mkdirs("/FileStore/e/a.bin/below")


def test_files_api_on_a_volume(w, emulator):
    files = FilesAPI(w.api_client)  # the plain service: one PUT per upload
    path = "/Volumes/main/default/landing/iris/01_raw/iris.csv"
    files.upload(path, io.BytesIO(b"a,b\n1,2\n"), overwrite=True)
    disk = emulator.root / "Volumes" / "main" / "default" / "landing" / "iris" / "01_raw"
    assert (disk / "iris.csv").read_bytes() == b"a,b\n1,2\n"
    assert emulator.calls[f"PUT /api/2.0/fs/files{path}"] == 1

    download = files.download(path)
    assert download.contents.read() == b"a,b\n1,2\n" and download.content_length == 8
    meta = files.get_metadata(path)
    assert meta.content_length == 8 and meta.last_modified
    with pytest.raises(errors.ResourceConflict):
        files.upload(path, io.BytesIO(b"new"), overwrite=False)
    files.upload(path, io.BytesIO(b"new"))  # overwrite defaults to true
    assert files.download(path).contents.read() == b"new"

    entries = list(files.list_directory_contents("/Volumes/main/default/landing/iris"))
    assert [(e.path, e.is_directory, e.name) for e in entries] == [
        ("/Volumes/main/default/landing/iris/01_raw/", True, "01_raw")
    ]
    [entry] = files.list_directory_contents("/Volumes/main/default/landing/iris/01_raw")
    assert (entry.name, entry.file_size, entry.is_directory) == ("iris.csv", 3, False)

    files.create_directory("/Volumes/main/default/landing/empty/deeper")
    files.get_directory_metadata("/Volumes/main/default/landing/empty")
    with pytest.raises(errors.BadRequest):
        files.delete_directory("/Volumes/main/default/landing/empty")  # not empty
    files.delete_directory("/Volumes/main/default/landing/empty/deeper")
    files.delete(path)
    with pytest.raises(errors.NotFound):
        files.download(path)
    with pytest.raises(errors.NotFound):
        files.get_metadata(path)
    with pytest.raises(errors.NotFound):
        list(files.list_directory_contents("/Volumes/main/default/landing/nope"))
    with pytest.raises(errors.BadRequest):
        files.upload("/Volumes/only-catalog/file", io.BytesIO(b""))


@pytest.mark.parametrize("emulator_options", [{"volumes": ["main.default.landing"]}])
def test_only_configured_volumes_exist(w):
    files = FilesAPI(w.api_client)
    files.upload("/Volumes/main/default/landing/x", io.BytesIO(b"x"))
    with pytest.raises(errors.NotFound):
        files.upload("/Volumes/main/default/other/x", io.BytesIO(b"x"))


def test_one_client_from_many_threads(w, emulator):
    from concurrent.futures import ThreadPoolExecutor

    files = FilesAPI(w.api_client)

    def upload(i: int) -> None:
        w.dbfs.upload(f"/FileStore/many/{i}.bin", io.BytesIO(BIG[: 1000 * i]), overwrite=True)
        files.upload(f"/Volumes/c/s/v/many/{i}.bin", io.BytesIO(BIG[: 1000 * i]))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(upload, range(1, 25)))
    sizes = {f.path: f.file_size for f in w.dbfs.list("/FileStore/many")}
    assert sizes == {f"/FileStore/many/{i}.bin": 1000 * i for i in range(1, 25)}
    entries = files.list_directory_contents("/Volumes/c/s/v/many")
    assert {e.name: e.file_size for e in entries} == {f"{i}.bin": 1000 * i for i in range(1, 25)}
