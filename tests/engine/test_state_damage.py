"""The state is born whole, damage is named (file, step, column) and never a traceback, and a
state that cannot be written stops the apply at once."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from bricksmith.engine import statefile
from bricksmith.engine.executor import execute
from bricksmith.engine.restore import describe, restore
from bricksmith.engine.schema import SCHEMA_VERSION
from bricksmith.engine.state import StateStore
from bricksmith.errors import StateError
from bricksmith.records import DamagedRecord, backup_path
from bricksmith.state_revision import read_revision, signature
from tests.engine.fakes import FakeStep, context_factory, graph_of


def applied(path, steps=("a", "b")):
    store = StateStore(path)
    for key in steps:
        store.mark_running(key, "fp", {"inputs": {"x": 1}})
        store.mark_succeeded(key, {"path": f"/ws/{key}", "nested": {"id": 1}})
    store.close()


def sql(path, statement):
    db = sqlite3.connect(path)
    db.execute(statement)
    db.commit()
    db.close()


# -- born whole ----------------------------------------------------------------------------


def test_a_state_file_left_without_tables_is_initialised_again(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)  # what a kill right after SQLite made the file leaves
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    assert path.exists() and StateStore.open_readonly(path) is None  # plan: nothing applied
    store = StateStore(path)
    assert store.schema_version == SCHEMA_VERSION and store.all() == {}
    store.mark_running("a", "fp", {})
    store.close()
    assert set(StateStore(path).all()) == {"a"}


def test_a_state_with_tables_but_no_version_and_no_records_is_initialised_again(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "CREATE TABLE steps (key TEXT PRIMARY KEY, fingerprint TEXT);")
    db.close()
    assert StateStore(path).schema_version == SCHEMA_VERSION


def test_a_state_with_records_but_no_version_is_damaged_not_wiped(tmp_path):
    path = tmp_path / "state.db"
    applied(path)
    sql(path, "DELETE FROM meta WHERE key='schema_version'")
    with pytest.raises(StateError, match="no schema version"):
        StateStore(path)
    assert len(sqlite3.connect(path).execute("SELECT * FROM steps").fetchall()) == 2


def test_creation_killed_before_the_rename_leaves_no_state(tmp_path, monkeypatch):
    """A kill anywhere in the creation (simulated: the rename never happens) leaves no
    state.db, and the next creation removes the half-built file."""
    path = tmp_path / "state.db"

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(statefile.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        StateStore(path)
    assert not path.exists() and (tmp_path / f"state.db{statefile.CREATING}").exists()
    monkeypatch.undo()
    store = StateStore(path)
    assert store.schema_version == SCHEMA_VERSION and store.revision()[1] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if "create" in p.name) == []


def test_a_state_that_cannot_be_created_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot be written"):
        StateStore(blocker / "state.db")


# -- damage is named -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE steps SET outputs='{not json' WHERE key='a'", "outputs of step a are not JSON"),
        ("UPDATE steps SET outputs='[]' WHERE key='a'", "outputs of step a are an array"),
        ("UPDATE steps SET inputs='7' WHERE key='a'", "inputs of step a are a number"),
    ],
)
def test_damaged_rows_name_the_file_the_step_and_the_column(tmp_path, statement, expected):
    path = tmp_path / "state.db"
    applied(path)
    backup_path(path).write_bytes(path.read_bytes())
    sql(path, statement)
    record = StateStore(path, readonly=True).all()["a"]
    with pytest.raises(StateError) as err:
        record.outputs, record.inputs  # noqa: B018 - decoding is what is tested
    assert expected in err.value.message and str(path) in err.value.message
    assert "bricksmith state restore" in err.value.hint


def test_a_key_missing_from_a_record_is_damage_and_still_a_key_error(tmp_path):
    path = tmp_path / "state.db"
    applied(path)
    sql(path, "UPDATE steps SET outputs='{\"nested\": {}}' WHERE key='a'")
    outputs = StateStore(path, readonly=True).get("a").outputs
    with pytest.raises(DamagedRecord, match="step a has no 'path' in its outputs"):
        outputs["path"]  # noqa: B018
    with pytest.raises(KeyError):
        outputs["nested"]["id"]  # noqa: B018
    assert outputs.get("path") is None and outputs.copy() == {"nested": {}}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE meta SET value='abc' WHERE key='schema_version'", "'abc' is not a number"),
        ("DROP TABLE checked", "no table checked"),
        ("DROP TABLE steps", "no table steps"),
        ("ALTER TABLE steps DROP COLUMN error", "table steps has no column error"),
    ],
)
def test_damaged_tables_are_refused_by_every_open(tmp_path, statement, expected):
    path = tmp_path / "state.db"
    applied(path)
    sql(path, statement)
    for readonly in (True, False):
        with pytest.raises(StateError, match=expected) as err:
            StateStore(path, readonly=readonly)
        assert "is damaged" in err.value.message
    assert read_revision(path, check=True) is None  # what a plan memo's replay asks


# -- cannot be written ---------------------------------------------------------------------


def test_a_locked_state_stops_the_apply_with_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(StateStore, "BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "state.db"
    state = StateStore(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process writing, for ever
    steps = [FakeStep("a"), FakeStep("b", ["a"])]
    before = threading.active_count()
    try:
        with pytest.raises(StateError) as err:
            execute(graph_of(*steps), state, context_factory(tmp_path), parallelism=2)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "cannot be written: database is locked" in err.value.message
    assert "apply again" in err.value.hint
    assert [s.applied for s in steps] == [0, 0]  # nothing ran without its record
    workers = [t for t in threading.enumerate() if t.name == "bricksmith step"]
    for worker in workers:
        worker.join(timeout=30)
    assert threading.active_count() <= before
    report = execute(graph_of(*steps), state, context_factory(tmp_path))  # cause gone
    assert sorted(report.ran) == ["a", "b"]


def test_a_state_failing_after_the_step_ran_is_reported_not_a_step_failure(tmp_path):
    path = tmp_path / "state.db"
    state = StateStore(path)
    calls = []
    real = state.mark_succeeded

    def full(key, outputs, entry=None):
        calls.append(key)
        raise statefile.unwritable(path, sqlite3.OperationalError("database or disk is full"))

    state.mark_succeeded = full
    with pytest.raises(StateError, match="disk is full"):
        execute(graph_of(FakeStep("a"), FakeStep("b", ["a"])), state, context_factory(tmp_path))
    assert calls == ["a"] and state.get("a").status == "running"  # resumed by the next apply
    state.mark_succeeded = real


# -- ownership -----------------------------------------------------------------------------


def test_a_state_belongs_to_the_workflow_that_applied_it(tmp_path):
    store = StateStore(tmp_path / "state.db")
    assert store.owner() is None
    store.claim("alpha", "/p/alpha.yaml")
    store.claim("alpha", "/p/moved.yaml")  # the same workflow, its spec moved
    assert store.owner() == ("alpha", "/p/moved.yaml")
    with pytest.raises(StateError) as err:
        store.claim("beta", "/p/beta.yaml")
    assert "belongs to workflow 'alpha' (spec /p/moved.yaml), not to 'beta'" in err.value.message
    assert "root" in err.value.hint
    assert store.owner()[0] == "alpha"


# -- restore says what it repeats ----------------------------------------------------------


def test_restore_lists_what_the_copy_does_not_know(tmp_path):
    path = tmp_path / "state.db"
    applied(path, ("a", "run.baseline"))
    store = StateStore(path)
    store.backup("at the start of apply 2")
    store.mark_running("run.baseline", "fp2", {})
    store.mark_succeeded("run.baseline", {"run_id": 7})
    store.mark_running("c", "fp", {})
    store.mark_succeeded("c", {})
    store.close()
    restored = restore(path)
    text = describe(path, restored)
    assert "the copy taken at the start of apply 2" in text
    assert [step for step, _ in restored.repeated] == ["c", "run.baseline"]
    assert "run.baseline: the copy holds an older result: it runs again (a new job run" in text
    assert set(StateStore(path).all()) == {"a", "run.baseline"}


def test_restore_of_a_copy_as_the_apply_left_it_repeats_nothing(tmp_path):
    path = tmp_path / "state.db"
    applied(path)
    store = StateStore(path)
    store.backup("at the end of apply 1 (succeeded)")
    store.close()
    text = describe(path, restore(path))
    assert "next apply repeats nothing" in text


def test_restore_of_an_unreadable_state_says_what_is_unknown(tmp_path):
    path = tmp_path / "state.db"
    applied(path)
    store = StateStore(path)
    store.mark_running("b", "fp", {})  # interrupted in the copy
    store.backup()
    store.close()
    path.write_bytes(b"garbage" * 1000)
    restored = restore(path)
    assert restored.unknown and [s for s, _ in restored.repeated] == ["b"]
    assert "could not be read" in describe(path, restored)


def test_signature_moves_with_every_write(tmp_path):
    path = tmp_path / "state.db"
    store = StateStore(path)
    before = signature(path)
    store.mark_checked(["x"])
    assert signature(path) != before


# -- atomic writes -------------------------------------------------------------------------


def test_temporary_names_fit_the_file_system_limit_for_every_name_length(tmp_path):
    from bricksmith.atomic import NAME_MAX, copy_atomically, temporary_path, write_text_atomically

    for length in (1, 200, 240, 241, 250, 255):
        name = "é" * (length // 2) + "x" * (length % 2)  # two bytes a character
        target = tmp_path / name
        for suffix in (".tmp", ".bricksmith-tmp"):
            temp = temporary_path(target, suffix)
            assert len(temp.name.encode()) <= NAME_MAX and temp.name.endswith(suffix)
        write_text_atomically(target, "data")
        assert target.read_text() == "data"
        copy_atomically(target, tmp_path / ("c" + name[1:]), suffix=".bricksmith-tmp",
                        hidden=False, unique=False)
    assert temporary_path(tmp_path / ("a" * 250), unique=False) != temporary_path(
        tmp_path / ("a" * 249 + "b"), unique=False)  # a digest keeps shortened names apart
    assert sorted(p.name for p in tmp_path.iterdir() if "tmp" in p.name) == []


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from bricksmith import atomic

    target = tmp_path / "parameters.yml"
    target.write_text("old: 1\n")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        atomic.write_text_atomically(target, "new: 2\n")
    with pytest.raises(OSError, match="No space"):
        atomic.copy_atomically(target, tmp_path / "copy.yml")
    assert target.read_text() == "old: 1\n" and sorted(os.listdir(tmp_path)) == ["parameters.yml"]


# -- Ctrl-C --------------------------------------------------------------------------------


class _InterruptedStep(FakeStep):
    """Ctrl-C arrives while it works; its child process dies of the same signal."""

    def __init__(self, key, release):
        super().__init__(key)
        self.release = release

    def apply(self, ctx, upstream):
        import signal

        signal.raise_signal(signal.SIGINT)  # delivered to the main thread
        self.release.wait(30)
        raise RuntimeError("git died of SIGINT")


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handling in this test process, whatever ran in it before: the
    handler that raises KeyboardInterrupt, SIGINT not blocked (the full suite once ran this
    test with neither, and the step's 30 s wait passed unseen)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_apply_and_records_the_step_as_interrupted(tmp_path, python_sigint):
    state = StateStore(tmp_path / "state.db")
    release = threading.Event()
    stopped = []
    later = FakeStep("b", ["a"])
    with pytest.raises(KeyboardInterrupt):
        execute(graph_of(_InterruptedStep("a", release), later), state,
                context_factory(tmp_path), on_interrupt=lambda: stopped.append(True))
    release.set()
    for worker in [t for t in threading.enumerate() if t.name == "bricksmith step"]:
        worker.join(timeout=30)
    assert stopped == [True] and later.applied == 0
    record = state.get("a")
    assert (record.status, record.error) == ("running", None)  # interrupted, not failed


def test_a_hot_journal_a_killed_writer_left_is_rolled_back_not_called_damage(tmp_path):
    """Found by the first-state kill campaign (1 in ~360 kills): a write killed mid-transaction
    leaves a hot rollback journal, which a read-only connection may not roll back ("attempt to
    write a readonly database"): plan called the state damaged and advised moving it aside."""
    import subprocess
    import sys

    path = tmp_path / "state.db"
    store = StateStore(path)
    store.mark_running("a", "fp", {"inputs": {}})
    store.mark_succeeded("a", {"made": 1})
    store.close()
    writer = (
        "import os, sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode=DELETE')\n"
        "db.execute('PRAGMA cache_size=1')\n"
        "db.execute('BEGIN')\n"
        "db.execute('CREATE TABLE filler(x)')\n"
        "for _ in range(3000): db.execute('INSERT INTO filler VALUES (randomblob(1000))')\n"
        "db.execute(\"UPDATE steps SET outputs = '{}'\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(path)], check=True)
    assert (tmp_path / "state.db-journal").exists()
    readonly = StateStore.open_readonly(path)
    try:
        assert readonly.all()["a"].outputs == {"made": 1}  # the killed write never happened
    finally:
        readonly.close()
