import sqlite3

import pytest

from bricksmith.engine.schema import SCHEMA_VERSION
from bricksmith.engine.state import (
    StateStore,
    restore,
)
from bricksmith.errors import StateError
from bricksmith.state_revision import read_revision
from bricksmith.statuses import FAILED, RUNNING, SUCCEEDED


def test_rows_survive_reopen_and_keep_outputs_through_a_retry(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.mark_running("a", "fp1", {"inputs": {"x": 1}})
    store.checkpoint("a", {"_run_id": 42})
    store.close()

    reopened = StateStore(tmp_path / "state.db")
    record = reopened.get("a")
    assert record.status == RUNNING and record.outputs == {"_run_id": 42} and record.attempt == 1
    reopened.mark_failed("a", "boom")
    reopened.mark_running("a", "fp2", {"inputs": {"x": 2}})
    record = reopened.get("a")
    assert record.attempt == 2 and record.error is None and record.outputs == {"_run_id": 42}
    reopened.mark_succeeded("a", {"value": 3})
    assert reopened.get("a").status == SUCCEEDED
    assert reopened.all()["a"].outputs == {"value": 3}


def test_failed_rows_keep_the_error(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.mark_running("a", "fp", {})
    store.mark_failed("a", "it broke\nsecond line")
    assert store.get("a").status == FAILED
    assert store.get("a").error.startswith("it broke")


def test_readonly_open_of_a_missing_state_is_none(tmp_path):
    assert StateStore.open_readonly(tmp_path / "nope.db") is None


def test_a_damaged_state_file_is_a_clear_error(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="is damaged") as err:
        StateStore(path)
    assert "no previous copy" in err.value.hint


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="schema version 99"):
        StateStore(path)


def filled(path, rows=200):
    store = StateStore(path)
    for i in range(rows):
        store.mark_running(f"step{i}", "fp", {"inputs": {"i": i, "pad": "x" * 200}})
        store.mark_succeeded(f"step{i}", {"value": i})
    return store


def test_a_truncated_state_is_detected_and_the_backup_restores_it(tmp_path):
    path = tmp_path / "state.db"
    store = filled(path)
    backup = store.backup()
    store.mark_running("later", "fp", {})  # after the backup: lost by a restore, as expected
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(StateError) as err:
        StateStore(path)
    assert "is damaged" in err.value.message and "state restore" in err.value.hint
    with pytest.raises(StateError):
        StateStore(path, readonly=True)

    aside = restore(path)
    assert aside.read_bytes() == data[: len(data) // 2]  # the damaged file is kept
    records = StateStore(path).all()
    assert len(records) == 200 and records["step7"].outputs == {"value": 7}
    assert "later" not in records
    assert backup.exists()


def test_restore_without_a_backup_says_so(tmp_path):
    with pytest.raises(StateError, match="no backup"):
        restore(tmp_path / "state.db")


def test_a_version_1_state_migrates_forward_keeping_its_rows(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE steps (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
            status TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL,
            started_at TEXT, finished_at TEXT, attempt INTEGER NOT NULL DEFAULT 0, error TEXT);
        INSERT INTO steps VALUES ('a', 'fp', 'succeeded', '{}', '{"x": 1}', NULL, NULL, 1, NULL);
    """)
    db.commit()
    db.close()
    old = StateStore(path, readonly=True)
    assert old.schema_version == 1  # reading never migrates
    assert old.all()["a"].outputs == {"x": 1} and old.all()["a"].checked_at is None
    store = StateStore(path)
    assert store.schema_version == SCHEMA_VERSION == 5
    assert store.get("a").outputs == {"x": 1}
    generation, revision = store.revision()
    store.mark_checked(["a"])
    assert store.get("a").checked_at is not None
    apply_id = store.begin_apply("pid 1 on host")
    store.end_apply(apply_id, "succeeded")
    row = store._db.execute("SELECT status, holder FROM applies").fetchone()
    assert row == ("succeeded", "pid 1 on host")


def test_every_change_to_the_steps_moves_the_revision_and_nothing_else_does(tmp_path):
    path = tmp_path / "state.db"
    store = StateStore(path)
    generation, first = store.revision()
    assert len(generation) == 32 and first == 0
    store.mark_running("a", "fp", {"inputs": {}})
    store.mark_succeeded("a", {"x": 1})
    after_success = store.revision()
    assert after_success == (generation, 2) == read_revision(path)
    store.mark_checked(["a"])  # when it was found up to date: not a change of the steps
    store.end_apply(store.begin_apply("me"), "succeeded")
    assert store.revision() == after_success
    store.forget(["a"])
    assert store.revision() == (generation, 3)
    store.close()
    other = StateStore(tmp_path / "other.db")
    assert other.revision()[0] != generation  # a new database never meets an old memo
    assert read_revision(tmp_path / "missing.db") is None
