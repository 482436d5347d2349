"""LogFollower: lines appended by another writer, as they come."""

from __future__ import annotations

import time

from bricksmith.backends.logtail import LogFollower


def test_lines_appended_after_the_offset_arrive_in_order_the_last_partial_one_at_stop(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("before the run\n")
    seen: list[str] = []
    with open(log, "a") as out, LogFollower(log, seen.append, offset=log.stat().st_size):
        out.write("first line\nsecond ")
        out.flush()
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == ["first line"]  # "second " is not a whole line yet
        out.write("half\n\n  \nthird, no newline")
        out.flush()
    assert seen == ["first line", "second half", "third, no newline"]


def test_a_missing_file_is_waited_for_not_an_error(tmp_path):
    seen: list[str] = []
    with LogFollower(tmp_path / "later.log", seen.append):
        (tmp_path / "later.log").write_text("it came\n")
    assert seen == ["it came"]
