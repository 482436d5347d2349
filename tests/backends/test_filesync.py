import pytest

from bricksmith.backends import filesync


def test_scan_hashes_only_what_changed(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.csv").write_text("1,2\n")
    (tmp_path / "sub" / "b.csv").write_text("3,4\n")
    first = filesync.scan(tmp_path)
    assert sorted(first) == ["a.csv", "sub/b.csv"]

    hashed = []
    real = filesync.file_sha256
    monkeypatch.setattr(filesync, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    assert filesync.scan(tmp_path, first) == first
    assert hashed == []

    (tmp_path / "a.csv").write_text("1,2,3\n")
    second = filesync.scan(tmp_path, first)
    assert hashed == ["a.csv"]
    assert filesync.changed_files(second, first) == (["a.csv"], [])
    assert filesync.content_digest(second) != filesync.content_digest(first)


def test_content_digest_ignores_timestamps(tmp_path):
    (tmp_path / "a").write_text("x")
    one = filesync.scan(tmp_path)
    touched = {k: {**v, "mtime_ns": v["mtime_ns"] + 10} for k, v in one.items()}
    assert filesync.content_digest(one) == filesync.content_digest(touched)
    assert filesync.changed_files({}, one) == ([], ["a"])


def _age(tree, seconds=3600):
    """Set every folder's and file's times an hour back, as a tree written well before a scan."""
    import os
    import time

    then = time.time() - seconds
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (then, then))


def _tree(root):
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.csv").write_text("1\n")
    (root / "sub" / "deep" / "b.csv").write_text("2\n")
    (root / "empty").mkdir()
    _age(root)
    return root


def test_a_tree_scanned_long_after_its_last_change_gets_a_stamp_per_folder(tmp_path):
    manifest, stamps = filesync.scan_stamped(_tree(tmp_path / "t"))
    assert sorted(stamps) == ["", "empty", "sub", "sub/deep"]
    assert filesync.unchanged(tmp_path / "t", manifest, stamps)


def test_a_folder_changed_just_before_the_scan_gets_no_stamps(tmp_path):
    root = _tree(tmp_path / "t")
    (root / "sub" / "c.csv").write_text("3\n")  # now: within a tick of the scan
    manifest, stamps = filesync.scan_stamped(root)
    assert stamps is None and not filesync.unchanged(root, manifest, stamps)
    assert "sub/c.csv" in manifest


@pytest.mark.parametrize(
    "change",
    [
        "add a file in an empty folder",
        "add a file deep down",
        "remove a file",
        "rewrite a file (same size)",
        "grow a file",
        "rename a folder",
        "replace a folder by a file",
        "remove the tree",
    ],
)
def test_stamps_notice_every_kind_of_change(tmp_path, change):
    import shutil

    root = _tree(tmp_path / "t")
    manifest, stamps = filesync.scan_stamped(root)
    deep = root / "sub" / "deep"
    if change == "add a file in an empty folder":
        (root / "empty" / "new.csv").write_text("")
    elif change == "add a file deep down":
        (deep / "new.csv").write_text("")
    elif change == "remove a file":
        (deep / "b.csv").unlink()
    elif change == "rewrite a file (same size)":
        (root / "a.csv").write_text("9\n")
    elif change == "grow a file":
        (root / "a.csv").write_text("1234\n")
    elif change == "rename a folder":
        (root / "empty").rename(root / "vacant")
    elif change == "replace a folder by a file":
        (root / "empty").rmdir()
        (root / "empty").write_text("")
    else:
        shutil.rmtree(root)
    assert not filesync.unchanged(root, manifest, stamps)


def test_source_drift_with_stamps_reads_no_folder_when_nothing_moved(tmp_path, monkeypatch):
    import os

    root = _tree(tmp_path / "t")
    manifest, stamps = filesync.scan_stamped(root)
    listed = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(path) or real(path))
    assert filesync.source_drift(root, manifest, stamps) == []
    assert listed == []
    (root / "a.csv").write_text("10\n")
    assert filesync.source_drift(root, manifest, stamps) == ["source file changed: a.csv"]
    assert listed  # something moved: the tree was listed to say what


def test_copies_present_checks_each_file_and_its_size(tmp_path):
    root = _tree(tmp_path / "t")
    manifest = filesync.scan(root)
    assert filesync.copies_present(str(root), manifest)
    (root / "a.csv").write_text("longer\n")
    assert not filesync.copies_present(str(root), manifest)
    (root / "a.csv").unlink()
    assert not filesync.copies_present(str(root), manifest)
