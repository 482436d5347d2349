"""What a run writes and the locks that keep runs sharing an output apart
(bricksmith.run_outputs)."""

from __future__ import annotations

import threading
from pathlib import Path

from bricksmith.kedro_catalog import CatalogDataset, RunCatalog
from bricksmith.run_outputs import (
    OutputLocks,
    Upload,
    location,
    lock_namespace,
    raw_layer,
    written_outputs,
)


def ds(name, path, *, type_="pickle.PickleDataset", versioned=False, layer=None):
    return CatalogDataset(name=name, type=type_, path=path, versioned=versioned,
                          persisted=type_ != "MemoryDataset", layer=layer, pattern="{" in name)


def test_locations_are_what_two_runs_would_share():
    assert location("dbfs:/FileStore/a/y.pkl", "demo") == "/dbfs/FileStore/a/y.pkl"
    assert location("/dbfs/FileStore/a/./y.pkl", "demo") == "/dbfs/FileStore/a/y.pkl"
    assert location("/Volumes/main/s/v/y.pkl", "demo") == "/Volumes/main/s/v/y.pkl"
    assert location("data/07_model_output/y.pkl", "demo") == "repo:demo/data/07_model_output/y.pkl"
    assert location("file:///tmp/y.pkl", "demo") == "/tmp/y.pkl"
    assert location("s3://bucket/y.pkl/", "demo") == "s3://bucket/y.pkl"


def test_outputs_are_the_persisted_datasets_that_are_no_raw_input(tmp_path):
    source = tmp_path / "data"
    (source / "03_primary").mkdir(parents=True)
    (source / "03_primary" / "table.csv").write_text("a\n1\n")
    uploads = [Upload(source, "dbfs:/FileStore/demo/data", "data")]
    catalog = RunCatalog(tmp_path, "local", (
        ds("iris", "/dbfs/FileStore/demo/data/01_raw/iris.csv", type_="pandas.CSVDataset"),
        ds("lookup", "/dbfs/shared/lookup.csv", layer="raw"),
        ds("table", "/dbfs/FileStore/demo/data/03_primary/table.csv"),  # uploaded: an input
        ds("y_pred", "/dbfs/FileStore/demo/data/07_model_output/y_pred.pkl", versioned=True),
        ds("model", "data/06_models/model.pkl"),
        ds("X_train", None, type_="MemoryDataset"),
        ds("{name}_features", "data/04_feature/{name}.parquet"),
    ))
    assert raw_layer(catalog.datasets[0]) and raw_layer(catalog.datasets[1])
    assert written_outputs(catalog, uploads, "demo") == {
        "/dbfs/FileStore/demo/data/07_model_output/y_pred.pkl": "y_pred",
        "repo:demo/data/06_models/model.pkl": "model",
        "repo:demo/data/04_feature/{name}.parquet": "{name}_features",
    }


def test_a_versioned_dataset_is_an_output_even_when_an_upload_has_its_file(tmp_path):
    (tmp_path / "data" / "05_model_input").mkdir(parents=True)
    (tmp_path / "data" / "05_model_input" / "y_test.pkl").write_bytes(b"x")
    catalog = RunCatalog(tmp_path, "local", (
        ds("y_test", "/dbfs/d/05_model_input/y_test.pkl", versioned=True),))
    assert written_outputs(catalog, [Upload(tmp_path / "data", "dbfs:/d")], "demo") == {
        "/dbfs/d/05_model_input/y_test.pkl": "y_test"}


def test_the_lock_namespace_is_the_storage_of_the_target(tmp_path):
    class Local:
        backend = "local"

    class Remote:
        backend, host, profile = "databricks", "https://adb-1.azuredatabricks.net/", None

    assert lock_namespace(Local(), tmp_path) == f"local:{tmp_path.resolve()}"
    assert lock_namespace(Remote(), tmp_path) == "databricks:https://adb-1.azuredatabricks.net"


def _run_in_thread(locks: OutputLocks, inside: threading.Event, leave: threading.Event):
    def body():
        with locks:
            inside.set()
            leave.wait()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_two_runs_sharing_an_output_are_serialised(tmp_path):
    folder = tmp_path / "locks"
    shared = "/dbfs/FileStore/demo/data/07_model_output/y_pred.pkl"
    first_in, first_leave = threading.Event(), threading.Event()
    first = _run_in_thread(
        OutputLocks("local:/t", {shared: "y_pred", "/dbfs/a": "a"}, holder="run.baseline",
                    folder=folder), first_in, first_leave)
    assert first_in.wait(30)

    waiting = threading.Event()
    messages = []
    second_in, second_leave = threading.Event(), threading.Event()
    second = _run_in_thread(
        OutputLocks("local:/t", {shared: "y_pred", "/dbfs/b": "b"}, holder="run.split-70",
                    folder=folder,
                    log=lambda m: messages.append(m) or waiting.set()), second_in, second_leave)
    assert waiting.wait(30)  # it found the lock taken and said by whom, then blocked
    assert not second_in.is_set()
    assert messages == [f"waiting for run.baseline: it writes y_pred ({shared}) too; runs that "
                        "write the same outputs run one after the other"]
    first_leave.set()
    first.join(30)
    assert second_in.wait(30)  # the first run's end lets the second in
    second_leave.set()
    second.join(30)
    assert not list(folder.glob("*.holder"))  # nothing left naming a holder


def test_two_runs_sharing_no_output_overlap(tmp_path):
    folder = tmp_path / "locks"
    first_in, first_leave = threading.Event(), threading.Event()
    first = _run_in_thread(OutputLocks("local:/t", {"/dbfs/a/y_pred.pkl": "y_pred"},
                                       holder="run.a", folder=folder), first_in, first_leave)
    assert first_in.wait(30)
    messages = []
    second_in, second_leave = threading.Event(), threading.Event()
    second = _run_in_thread(OutputLocks("local:/t", {"/dbfs/b/y_pred.pkl": "y_pred"},
                                        holder="run.b", folder=folder, log=messages.append),
                            second_in, second_leave)
    assert second_in.wait(30)  # while the first still holds its lock
    assert first.is_alive() and messages == []
    # the same location in another workspace is another lock
    other = OutputLocks("databricks:https://h", {"/dbfs/a/y_pred.pkl": "y_pred"}, holder="x",
                        folder=folder, log=messages.append)
    with other:
        assert messages == []
    first_leave.set()
    second_leave.set()
    first.join(30)
    second.join(30)


def test_around_holds_the_locks_for_the_call_only(tmp_path):
    locks = OutputLocks("local:/t", {"/dbfs/x": "x"}, holder="run.a", folder=tmp_path)
    seen = []

    def call(value):
        seen.append(Path(locks.lock_file("/dbfs/x")).with_suffix(".holder").read_text())
        return value * 2

    assert locks.around(call)(21) == 42
    assert seen == ["run.a\n"] and not locks._held
