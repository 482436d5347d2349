"""The reliability report's instruments find what they are meant to find (the attacks
themselves run with ``python -m tests.reliability``)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.reliability import measure


def test_same_tree_finds_a_changed_byte_of_the_same_size(tmp_path):
    source, copy = tmp_path / "source", tmp_path / "copy"
    for folder in (source, copy):
        (folder / "raw").mkdir(parents=True)
        (folder / "raw" / "iris.csv").write_bytes(b"5.1,3.5\n")
    assert measure.same_tree(source, copy) == []
    (copy / "raw" / "iris.csv").write_bytes(b"5.1,3.6\n")
    (copy / "stray.bin").write_bytes(b"x")
    (source / "new.csv").write_bytes(b"y")
    found = measure.same_tree(source, copy)
    assert found == ["new.csv missing on DBFS", "stray.bin on DBFS has no source",
                     "raw/iris.csv on DBFS differs from its source (8 vs 8 bytes)"]


def test_local_executions_count_completed_pipelines_in_the_run_log(tmp_path):
    logs = tmp_path / "logs" / "runs"
    logs.mkdir(parents=True)
    done = f"cell 1\n{measure.COMPLETED}\n"
    (logs / "baseline.log").write_text(done * 2)
    (logs / "split-70.log").write_text("cell 1\n")
    assert measure.local_executions(tmp_path) == {"baseline": 2, "split-70": 0}
    found = measure.duplicates(root=tmp_path, remote=tmp_path / "none.git")
    assert found == ["run baseline: notebook executed 2 times"]
    # one file per execution (logs/runs/NAME/), NAME.log the link to the latest: counted once
    (logs / "split-70").mkdir()
    for stamp in ("20261130T185611Z", "20261130T185617Z"):
        (logs / "split-70" / f"{stamp}.log").write_text(done)
    (logs / "split-70.log").unlink()
    (logs / "split-70.log").symlink_to("split-70/20261130T185617Z.log")
    assert measure.local_executions(tmp_path) == {"baseline": 2, "split-70": 2}
    assert measure.duplicates(root=tmp_path, remote=tmp_path / "none.git",
                              executions_before={"baseline": 1, "split-70": 1}) == []


def test_leftovers_name_staging_folders_temp_files_and_processes(tmp_path):
    (tmp_path / ".iris-databricks-new-abc").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "tmpx1.py").write_text("")
    (tmp_path / ".bricksmith" / "local" / "dbfs").mkdir(parents=True)
    (tmp_path / ".bricksmith" / "local" / "dbfs" / "a.csv.bricksmith-tmp").write_text("")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                                str(tmp_path)])
    try:
        while not measure.processes_under(tmp_path):  # until it has exec'd its command line
            time.sleep(0.02)
        found = measure.leftovers(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert found[:3] == ["staging folder .iris-databricks-new-abc", "$TMPDIR/tmpx1.py",
                         "temporary file .bricksmith/local/dbfs/a.csv.bricksmith-tmp"]
    assert len(found) == 4 and found[3].startswith(f"process {sleeper.pid}:")


def test_the_command_line_watcher_and_file_scan_see_the_secrets(tmp_path, monkeypatch):
    # its own values: a report running at the same time must not see this test's command line
    monkeypatch.setattr(measure, "SECRET", "dapiTEST0ONLY0" + tmp_path.name)
    monkeypatch.setattr(measure, "CANARY", "CANARY-test-only-" + tmp_path.name)
    with measure.watching_command_lines() as found:
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)",
                                   measure.SECRET])
        while not found and holder.poll() is None:
            time.sleep(0.05)
        holder.kill()
        holder.wait()
    assert found and measure.SECRET in found[0]
    (tmp_path / "state.db").write_bytes(b"\0" + measure.CANARY.encode())
    assert measure.secrets_in_files(tmp_path, ["fine", f"token {measure.SECRET}"]) == [
        "secret in state.db", "secret in output #1"]
