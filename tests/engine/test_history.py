"""The run history (schema version 5): every execution kept, written with the step's result,
migrated into an older state, and a damaged row named like any other damage."""

from __future__ import annotations

import sqlite3

import pytest

from bricksmith.engine.executor import execute
from bricksmith.engine.schema import SCHEMA_VERSION
from bricksmith.engine.state import StateStore
from bricksmith.errors import ApplyFailed, StateError
from tests.engine.fakes import FakeStep, context_factory, graph_of


class KeptStep(FakeStep):
    def history_entry(self, outputs):
        return {"value": self.value, "made": None if outputs is None else outputs["value"]}


def test_every_execution_is_kept_with_the_steps_result(tmp_path):
    path = tmp_path / "state.db"
    state = StateStore(path)
    step = KeptStep("run.a")
    execute(graph_of(step), state, context_factory(tmp_path))
    step.value = 2
    execute(graph_of(step), state, context_factory(tmp_path))
    execute(graph_of(step), state, context_factory(tmp_path))  # up to date: nothing kept
    kept = state.executions("run.a")
    assert [(e.number, e.status, e.entry) for e in kept] == [
        (1, "succeeded", {"value": 1, "made": 1}), (2, "succeeded", {"value": 2, "made": 2})]
    assert all(e.started_at and e.started_at <= e.finished_at for e in kept)
    assert kept[1].finished_at == state.get("run.a").finished_at  # one transaction
    assert StateStore(tmp_path / "other.db").executions() == []


def test_a_failed_execution_is_kept_with_its_error(tmp_path):
    state = StateStore(tmp_path / "state.db")
    with pytest.raises(ApplyFailed):
        execute(graph_of(KeptStep("run.b", fail=True)), state, context_factory(tmp_path))
    (only,) = state.executions()
    assert only.status == "failed" and only.entry["made"] is None and only.entry["error"]


def test_an_older_state_is_migrated_and_a_read_only_look_finds_no_history(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE executions")
        db.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    assert StateStore.open_readonly(path).executions() == []  # not migrated, no error
    store = StateStore(path)
    assert store.schema_version == SCHEMA_VERSION == 5 and store.executions() == []


@pytest.mark.parametrize("entry", ["not json", "[1, 2]"])
def test_a_damaged_history_row_is_named(tmp_path, entry):
    path = tmp_path / "state.db"
    state = StateStore(path)
    execute(graph_of(KeptStep("run.a")), state, context_factory(tmp_path))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE executions SET entry = ?", (entry,))
    with pytest.raises(StateError) as err:
        StateStore.open_readonly(path).executions()
    assert str(path) in err.value.message and "run.a" in err.value.message
    assert "history entry" in err.value.message and "move" in err.value.hint


def test_a_state_without_its_history_table_is_damaged(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE executions")
    with pytest.raises(StateError) as err:
        StateStore(path)
    assert "it has no table executions" in err.value.message
