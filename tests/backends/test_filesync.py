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
