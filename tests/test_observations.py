import os
import subprocess
import time

import pytest

from bricksmith import observations as probes


def _aged(path, seconds=3600):
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_observe_a_file_a_folder_and_nothing(tmp_path):
    file = tmp_path / "a.txt"
    file.write_text("x")
    _aged(file)
    st = file.stat()
    assert probes.observe(file) == ["file", str(file), 1, st.st_mtime_ns]
    assert probes.observe(tmp_path) == ["kind", str(tmp_path), "dir"]
    assert probes.observe(tmp_path / "no") == ["kind", str(tmp_path / "no"), "missing"]


def test_a_file_written_just_now_gives_no_probe(tmp_path):
    (tmp_path / "new.txt").write_text("x")
    assert probes.observe(tmp_path / "new.txt") is None
    assert probes.observe_all([tmp_path, tmp_path / "new.txt"]) is None


@pytest.mark.parametrize("change", ["rewrite", "grow", "remove", "replace by a folder"])
def test_file_probes_fail_on_any_change(tmp_path, change):
    file = tmp_path / "a.txt"
    file.write_text("12")
    _aged(file)
    taken = [probes.observe(file), ["size", str(file), 2]]
    assert probes.all_hold(taken)
    if change == "rewrite":
        file.write_text("34")
    elif change == "grow":
        file.write_text("345")
    elif change == "remove":
        file.unlink()
    else:
        file.unlink()
        file.mkdir()
    assert not probes.all_hold(taken[:1])
    assert change == "rewrite" or not probes.all_hold(taken[1:])


def test_dir_and_kind_probes(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    _aged(folder)
    taken = [["dir", str(folder), folder.stat().st_mtime_ns], probes.kind_probe(tmp_path / "x")]
    assert probes.all_hold(taken)
    (tmp_path / "x").write_text("")  # what was missing is there
    assert not probes.all_hold(taken)
    (tmp_path / "x").unlink()
    (folder / "entry").write_text("")  # an entry added to the folder
    assert not probes.all_hold(taken)


def test_git_probes_compare_the_output_and_the_exit_code(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    clean = probes.git_probe(tmp_path, ["status", "--porcelain"], "")
    assert probes.all_hold([clean, clean])  # run at once
    (tmp_path / "new.txt").write_text("x")
    assert not probes.all_hold([clean])
    failing = probes.git_probe(tmp_path, ["rev-parse", "--verify", "--quiet", "HEAD"], "")
    assert not probes.all_hold([failing])  # no commit yet: exit 1, even with the same output


def test_an_unknown_probe_never_holds(tmp_path):
    assert not probes.all_hold([["telepathy", str(tmp_path)]])
    assert probes.all_hold([])


def test_a_git_probe_that_hangs_fails_and_is_stopped(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(probes, "GIT_TIMEOUT_S", 0.5)
    started = time.monotonic()
    assert not probes.all_hold([probes.git_probe(None, ["status"], "")])
    assert time.monotonic() - started < 10  # not the 30 s the command would take
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped


def test_a_missing_git_fails_the_probe(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not probes.all_hold([probes.git_probe(None, ["--version"], "")])
