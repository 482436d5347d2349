"""A project's creation leaves nothing behind: its staging folder (a killed creation's too, on
the next one) and the temporary files of ``kedro new`` (cookiecutter's hook scripts)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bricksmith.starters import (
    STAGING_CONFIG,
    builtin_starter_path,
    clean_staging,
    create_project,
    project_staging,
)


def ended_pid() -> int:
    """The pid of a process that has ended (a killed apply's)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def left_by_a_killed_apply(dest: Path, pid: int) -> Path:
    staging = dest.parent / f".{dest.name}-new-{pid}-abcd1234"
    (staging / "out" / dest.name / "src").mkdir(parents=True)
    (staging / "tmp").mkdir()
    (staging / "tmp" / "tmpx1y2z3.py").write_text("# a cookiecutter hook\n")
    return staging


def test_creation_keeps_its_temporary_files_in_staging_and_removes_it(tmp_path, monkeypatch):
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    dest = tmp_path / "projects" / "iris-databricks"
    stale = left_by_a_killed_apply(dest, ended_pid())
    create_project(builtin_starter_path("databricks-iris"), dest, project_name="Iris",
                   log_path=tmp_path / "scaffold.log")
    assert (dest / "pyproject.toml").is_file()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["iris-databricks"]  # stale gone
    assert not stale.exists()
    assert list(system_tmp.iterdir()) == []  # no tmp*.py hook file, no bricksmith-* folder


def test_staging_of_a_live_apply_or_in_use_is_kept(tmp_path):
    dest = tmp_path / "iris-databricks"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        live = left_by_a_killed_apply(dest, sleeper.pid)
        worked_in = left_by_a_killed_apply(dest, ended_pid())
        user = tmp_path / f".{dest.name}-new-notes"  # not bricksmith's: no pid, not its files
        user.mkdir()
        (user / "mine.txt").write_text("x")
        inside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                  cwd=worked_in / "out")
        try:
            assert clean_staging(dest) == []
        finally:
            inside.kill()
            inside.wait()
        assert clean_staging(dest) == [worked_in]
        assert live.is_dir() and (user / "mine.txt").is_file()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert clean_staging(dest) == [live]
    older = tmp_path / f".{dest.name}-new-k2j4h5"  # an older bricksmith's name: its config
    older.mkdir()
    (older / STAGING_CONFIG).write_text("repo_name: iris-databricks\n")
    assert clean_staging(dest) == [older]
    assert (user / "mine.txt").is_file()


def test_project_staging_is_removed_on_error(tmp_path):
    dest = tmp_path / "p"
    with pytest.raises(RuntimeError), project_staging(dest) as staging:
        assert staging.name.startswith(f".p-new-{os.getpid()}-")
        (staging / "x").write_text("x")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_kedro_new_dies_with_its_apply(tmp_path):
    """The wrapper ``kedro new`` runs in: its parent's death kills it (PR_SET_PDEATHSIG)."""
    from bricksmith.starters import DIE_WITH_PARENT

    if not Path("/proc").is_dir():
        pytest.skip("Linux only")
    marker = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {DIE_WITH_PARENT!r}, str(os.getpid()),"
        " 'http.server', '0', '--bind', '127.0.0.1'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n")])
    while not marker.exists() or not marker.read_text():
        assert parent.poll() is None
        time.sleep(0.05)
    from bricksmith.backends.kernels import KernelProcess, wait_for

    child = KernelProcess.of(int(marker.read_text()))
    assert child.alive()
    parent.kill()
    parent.wait()
    # gone with its parent, without anyone killing it (the bound only keeps a failure from
    # hanging the suite)
    assert wait_for(child, time.monotonic() + 120)
