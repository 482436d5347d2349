"""One log file per run execution (``bricksmith.run_logs``): each execution its own file,
``logs/runs/NAME.log`` the latest, a killed apply's execution continued in its own file, the
earlier layout kept, a file of the user's never touched, everything noted for destroy."""

from __future__ import annotations

import os

from bricksmith.made import Made
from bricksmith.run_logs import EARLIER, execution_log


def test_each_execution_gets_its_own_file_and_the_latest_link_follows(tmp_path):
    logs = tmp_path / "logs"
    first = execution_log(tmp_path, logs, "baseline", {}, "fp1")
    first.write_text("first execution\n")
    second = execution_log(tmp_path, logs, "baseline", {"_log": str(first)}, "fp2")
    second.write_text("second execution\n")
    assert first != second and first.parent == second.parent == logs / "runs" / "baseline"
    assert first.read_text() == "first execution\n"  # never written over
    latest = logs / "runs" / "baseline.log"
    assert latest.is_symlink() and os.readlink(latest) == f"baseline/{second.name}"
    assert latest.read_text() == "second execution\n"
    made = Made(tmp_path)
    for path in (first, second, latest, logs / "runs" / "baseline"):
        assert made.owns(path), path


def test_two_executions_in_one_second_do_not_share_a_file(tmp_path):
    paths = {execution_log(tmp_path, tmp_path / "logs", "r", {}, f"fp{i}") for i in range(3)}
    assert len(paths) == 3
    assert all(p.stat().st_size == 0 for p in paths)


def test_the_execution_a_killed_apply_left_keeps_its_file(tmp_path):
    logs = tmp_path / "logs"
    started = execution_log(tmp_path, logs, "baseline", {}, "fp")
    started.write_text("half a run\n")
    pending = {"_pending": True, "_log": str(started), "_fingerprint": "fp"}
    assert execution_log(tmp_path, logs, "baseline", pending, "fp") == started
    # other inputs: a new execution, a new file
    assert execution_log(tmp_path, logs, "baseline", pending, "other") != started
    assert started.read_text() == "half a run\n"


def test_the_earlier_layout_is_kept_and_a_users_file_left_alone(tmp_path):
    logs = tmp_path / "logs"
    made = Made(tmp_path)
    old = made.file(logs / "runs" / "baseline.log")  # what bricksmith wrote before
    old.write_text("every earlier execution\n")
    new = execution_log(tmp_path, logs, "baseline", {}, "fp")
    assert (new.parent / EARLIER).read_text() == "every earlier execution\n"
    assert made.owns(new.parent / EARLIER)
    assert (logs / "runs" / "baseline.log").resolve() == new.resolve()

    mine = logs / "runs" / "mine.log"
    mine.write_text("the user's\n")  # not bricksmith's: never replaced
    path = execution_log(tmp_path, logs, "mine", {}, "fp")
    assert mine.read_text() == "the user's\n" and not mine.is_symlink()
    assert path.parent == logs / "runs" / "mine" and not made.owns(mine)
