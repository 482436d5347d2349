"""The record of what bricksmith made under a target root: only what it created is noted."""

from __future__ import annotations

import threading

from bricksmith.made import RECORD, Made


def test_notes_only_what_it_created(tmp_path):
    root = tmp_path / "root"
    (root / "logs").mkdir(parents=True)  # the user's
    (root / "logs" / "mine.log").write_text("mine")
    made = Made(root)
    made.file(root / "logs" / "runs" / "baseline.log")
    made.file(root / "logs" / "mine.log")  # exists: left as it is, not noted
    made.folder(root / "cluster" / "baseline")
    assert made.paths() == {"logs/runs", "logs/runs/baseline.log", "cluster",
                            "cluster/baseline"}
    assert (root / "logs" / "mine.log").read_text() == "mine"
    assert made.owns(root / "cluster" / "baseline") and not made.owns(root / "logs")
    assert made.under("logs") == [root / "logs/runs/baseline.log", root / "logs/runs"]
    assert made.under("cluster") == [root / "cluster/baseline", root / "cluster"]


def test_outside_the_root_nothing_is_noted(tmp_path):
    made = Made(tmp_path / "root")
    made.folder(tmp_path / "elsewhere" / "x")
    assert made.paths() == set() and not made.exists()


def test_a_damaged_line_names_nothing(tmp_path):
    made = Made(tmp_path)
    made.folder(tmp_path / "cluster" / "run")
    with open(tmp_path / RECORD, "a") as record:
        record.write("/etc\t+\n../outside\t+\n\nlogs/ru")  # a line cut short by a kill
    assert made.paths() == {"cluster", "cluster/run"}
    assert made.under("logs") == []
    made.folder(tmp_path / "logs" / "runs")  # noted on a line of its own after the cut one
    assert made.under("logs") == [tmp_path / "logs/runs", tmp_path / "logs"]


def test_runs_noting_at_once_lose_no_line(tmp_path):
    made = Made(tmp_path)

    def note(i):
        made.folder(tmp_path / "cluster" / f"run-{i}")

    threads = [threading.Thread(target=note, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made.paths() == {"cluster", *(f"cluster/run-{i}" for i in range(16))}
