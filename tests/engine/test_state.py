import sqlite3

import pytest

from bricksmith.engine.state import FAILED, RUNNING, SUCCEEDED, StateStore
from bricksmith.errors import StateError


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
    with pytest.raises(StateError, match="cannot open the state database"):
        StateStore(path)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="schema version 99"):
        StateStore(path)
