"""Every command meets a damaged state with one clear error (never a traceback), the plan memo
never answers for one, a first state is born whole, a state belongs to one workflow, and
plan/status see an apply at work instead of calling it interrupted."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from bricksmith.engine import statefile
from bricksmith.engine.state import StateStore

COMMANDS = (("plan",), ("status",), ("apply",), ("runs",), ("report",), ("destroy", "--yes"))


def _sql(path, statement):
    db = sqlite3.connect(path)
    db.execute(statement)
    db.commit()
    db.close()


@pytest.fixture
def applied(cli, seed):
    """The seed without runs, applied twice (a backup beside the state); its state path."""
    seed.write_text(seed.read_text().split("runs:")[0])
    assert cli("apply", seed).code == 0
    assert cli("apply", seed).code == 0
    return seed.parent / ".bricksmith/local/state.db"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE steps SET outputs='{not json' WHERE key='data.upload[0]'",
         "the outputs of step data.upload[0] are not JSON"),
        ("UPDATE steps SET outputs='[]' WHERE key='workspace.repo'",
         "the outputs of step workspace.repo are an array"),
        ("UPDATE meta SET value='abc' WHERE key='schema_version'", "is not a number"),
        ("DROP TABLE checked", "no table checked"),
        ("DROP TABLE steps", "no table steps"),
    ],
)
def test_every_command_names_a_damaged_state(cli, seed, applied, statement, expected,
                                             monkeypatch):
    monkeypatch.setenv("BRICKSMITH_PLAN_MEMO", "0")
    good = applied.read_bytes()
    previous = None
    for command in COMMANDS:
        applied.write_bytes(good)
        for leftover in ("-wal", "-shm"):
            (applied.parent / (applied.name + leftover)).unlink(missing_ok=True)
        try:
            _sql(applied, statement)
        except sqlite3.Error as exc:
            raise AssertionError(f"after {previous}: {exc}") from None
        previous = command
        damaged = applied.read_bytes()
        result = cli(command[0], seed, *command[1:])
        assert result.code == 1, (command, result.out)
        assert "Traceback" not in result.err + result.out
        assert f"the state database {applied} is damaged" in result.err, (command, result.err)
        assert expected in result.err and "bricksmith state restore" in result.err
        assert applied.read_bytes() == damaged  # refused before anything was written


def test_a_record_missing_a_key_stops_plan_and_apply_naming_it(cli, seed, applied):
    _sql(applied, "UPDATE steps SET outputs='{}' WHERE key='workspace.repo'")
    for command in ("plan", "apply"):
        result = cli(command, seed)
        assert result.code == 1 and "Traceback" not in result.err
        assert "the record of step workspace.repo has no 'path' in its outputs" in result.err
        assert "looks like a bug" not in result.err + result.out
    # destroy refuses too: it never throws away the state and its good copy on a damaged
    # record, leaving the workspace repo behind and recorded nowhere
    state = applied
    backup = state.with_name(state.name + ".bak")
    had_backup = backup.exists()
    result = cli("destroy", seed, "--yes")
    assert result.code == 1 and "Traceback" not in result.err
    assert "the record of step workspace.repo has no 'path'" in result.err
    assert state.exists() and backup.exists() == had_backup
    assert (seed.parent / ".bricksmith/local/Workspace/Repos/local-user/iris-databricks").is_dir()


def test_the_plan_memo_never_answers_for_a_damaged_state(cli, seed, applied):
    assert cli("plan", seed).code == 0
    assert cli("plan", seed).code == 0  # memo in place (written by the first)
    good = applied.read_bytes()
    _sql(applied, "DROP TABLE checked")  # the steps' revision does not move
    result = cli("plan", seed, "--detailed-exitcode")
    assert result.code == 1 and "no table checked" in result.err
    applied.write_bytes(good)
    assert cli("plan", seed).code == 0 and cli("plan", seed).code == 0
    with open(applied, "r+b") as handle:  # a page overwritten in place
        handle.seek(2 * 4096 + 8)
        handle.write(os.urandom(600))
    result = cli("plan", seed, "--detailed-exitcode")
    assert result.code == 1 and "is damaged" in result.err


def test_a_first_apply_killed_while_creating_the_state_converges(cli, seed):
    """What a kill during the first state's creation leaves (deterministically: a file SQLite
    made with no tables, its WAL, and a half-built temporary) is taken as no state."""
    seed.write_text(seed.read_text().split("runs:")[0])
    root = seed.parent / ".bricksmith/local"
    root.mkdir(parents=True)
    db = sqlite3.connect(root / "state.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    (root / f"state.db{statefile.CREATING}").write_bytes(b"half")
    plan = cli("plan", seed)
    assert plan.code == 0 and "to create" in plan.out and "damaged" not in plan.err
    assert cli("apply", seed).code == 0
    assert not (root / f"state.db{statefile.CREATING}").exists()
    assert StateStore(root / "state.db", readonly=True).get("workspace.repo").status == \
        "succeeded"
    assert cli("plan", seed, "--detailed-exitcode").code == 0


def test_a_second_workflow_on_the_same_root_is_refused_naming_the_first(cli, seed):
    text = seed.read_text().split("runs:")[0]
    beta = seed.with_name("beta.yaml")
    beta.write_text(text.replace("name: iris-databricks", "name: beta")
                    .replace("path: iris-databricks ", "path: beta ")
                    .replace("remote: iris-databricks.git ", "remote: beta.git ")
                    .replace("dbfs:/FileStore/iris-databricks/", "dbfs:/FileStore/beta/"))
    seed.write_text(text)
    assert cli("apply", seed).code == 0
    state = seed.parent / ".bricksmith/local/state.db"
    before = state.read_bytes()
    for command in (("plan",), ("apply",), ("status",), ("destroy", "--yes")):
        result = cli(command[0], beta, *command[1:])
        assert result.code == 1, command
        assert "belongs to workflow 'iris-databricks'" in result.err
        assert str(seed.resolve()) in result.err and "root" in result.err
    assert state.read_bytes() == before
    assert not (seed.parent / "beta").exists()
    assert (seed.parent / ".bricksmith/local/dbfs/FileStore/iris-databricks").exists()
    assert cli("plan", seed, "--detailed-exitcode").code == 0


def _hold_lock(root):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from bricksmith.engine.lock import TargetLock
        lock = TargetLock(Path({str(root)!r}), "local")
        lock.acquire()
        print("locked", flush=True)
        sys.stdin.readline()
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_plan_and_status_during_another_apply_say_where_it_runs(cli, seed, applied):
    _sql(applied, "UPDATE steps SET status='running' WHERE key='workspace.repo'")
    holder = _hold_lock(applied.parent)
    try:
        plan = cli("plan", seed)
        status = cli("status", seed, "--json").json()
    finally:
        holder.communicate("\n", timeout=30)
    assert f"running in apply {holder.pid} on " in plan.out and "interrupted" not in plan.out
    assert "~ workspace.repo (in progress)" in plan.out and "(resume)" not in plan.out
    assert "0 to resume, 1 in progress in another apply" in plan.out
    assert status["apply"].startswith(f"apply {holder.pid} on ")
    note = {s["step"]: s.get("note") for s in status["steps"]}["workspace.repo"]
    assert note.startswith(f"running in apply {holder.pid}")
    # the apply is gone: the same record is an interrupted attempt now
    assert "last attempt was interrupted" in cli("plan", seed).out
    assert "interrupted" in {s["step"]: s.get("note") for s in
                             cli("status", seed, "--json").json()["steps"]}["workspace.repo"]
    # its holder file outlived it (it never released): stale, removed once, then nothing
    assert f"removed the stale lock of target 'local' left by pid {holder.pid}" in cli(
        "state", "unlock", seed).out
    assert cli("state", "unlock", seed).out.strip() == "target 'local' is not locked"
    assert cli("apply", seed).code == 0  # after a normal apply there is no lock either
    assert cli("state", "unlock", seed).out.strip() == "target 'local' is not locked"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounts a tmpfs")
def test_a_full_or_read_only_disk_stops_the_apply_then_it_converges(cli, tmp_path):
    """The target root on a small tmpfs: filled up, then made read-only."""
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(small)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        spec = small / "iris.yaml"
        from tests.e2e.conftest import SPECS

        spec.write_text((SPECS / "iris.yaml").read_text().split("runs:")[0])
        assert cli("apply", spec).code == 0
        spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
        (small / "iris-databricks/data/01_raw/extra.bin").write_bytes(os.urandom(3_000_000))
        filler = small / "filler"
        with open(filler, "wb") as out:
            try:
                while True:
                    out.write(b"\0" * 65536)
            except OSError:
                pass
        os.truncate(filler, max(0, filler.stat().st_size - 160 * 1024))
        result = cli("apply", spec)
        assert result.code == 1 and "Traceback" not in result.err
        # whichever write meets the full disk first (the state's, or the upload's) says so
        assert ("cannot be written" in result.err or "No space left" in result.err), result.err
        assert "apply again" in result.err
        assert "looks like a bug" not in result.err
        filler.unlink()
        assert cli("apply", spec).code == 0
        assert cli("plan", spec, "--detailed-exitcode").code == 0

        spec.write_text(spec.read_text().replace("train_fraction: 0.7", "train_fraction: 0.6"))
        subprocess.run(["mount", "-o", "remount,ro", str(small)], check=True)
        try:
            result = cli("apply", spec)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(small)], check=True)
        assert result.code == 1 and "Traceback" not in result.err
        assert "Read-only file system" in result.err or "readonly" in result.err
        assert cli("apply", spec).code == 0
        assert cli("plan", spec, "--detailed-exitcode").code == 0
    finally:
        subprocess.run(["umount", "-l", str(small)])
