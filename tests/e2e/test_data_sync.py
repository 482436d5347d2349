"""Data uploads through the CLI on the local backend (issues 15.6, 15.8, 15.9, 21.8)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bricksmith.engine.state import StateStore
from tests.e2e.conftest import tree

DBFS = ".bricksmith/local/dbfs/FileStore"


@pytest.fixture
def spec(seed) -> Path:
    """specs/iris.yaml without runs, its data going to dbfs:/FileStore/d/${var.dest}."""
    text = seed.read_text()
    text = text[: text.index("\nruns:")] + "\n"
    text = text.replace("target: dbfs:/FileStore/iris-databricks/data",
                        "target: dbfs:/FileStore/d/${var.dest}")
    seed.write_text(text.replace("target: local\n", "target: local\nvariables:\n  dest: A\n"))
    return seed


def files(folder: Path) -> list[str]:
    return sorted(tree(folder)) if folder.exists() else []


def test_a_link_out_of_the_project_is_refused_by_plan_naming_it(cli, spec):
    assert cli("apply", spec).code == 0
    raw = spec.parent / "iris-databricks/data/01_raw"
    (raw / "env.txt").symlink_to("/proc/self/environ")
    before = tree(spec.parent / ".bricksmith")
    for command in ("plan", "apply"):
        result = cli(command, spec)
        assert result.code == 1
        assert "data source entry data/01_raw/env.txt: leads outside the project" in (
            result.out + result.err)
        assert "Traceback" not in result.err
    assert not (spec.parent / DBFS / "d/A/01_raw/env.txt").exists()
    after = tree(spec.parent / ".bricksmith")
    assert {k: v for k, v in after.items() if "/dbfs/" in k} == {
        k: v for k, v in before.items() if "/dbfs/" in k}

    # a link inside the project is followed: its folder lands on DBFS
    (raw / "env.txt").unlink()
    shared = spec.parent / "iris-databricks/shared"
    shared.mkdir()
    (shared / "table.csv").write_text("k,v\n")
    (raw / "lookup").symlink_to("../../shared")
    assert cli("plan", spec, "--detailed-exitcode").code == 2
    assert cli("apply", spec).code == 0
    assert (spec.parent / DBFS / "d/A/01_raw/lookup/table.csv").read_text() == "k,v\n"
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_a_link_out_of_the_project_is_refused_before_the_first_upload(cli, spec):
    assert cli("apply", spec, "--var", "dest=B").code == 0  # the project exists now
    (spec.parent / "iris-databricks/data/passwd.csv").symlink_to("/etc/passwd")
    result = cli("plan", spec)  # data.upload[0] will move: it is vetted before it is listed
    assert result.code == 1 and "data/passwd.csv: leads outside the project" in result.err
    looped = cli("plan", spec, "--var", "dest=B")
    assert looped.code == 1 and "data/passwd.csv" in looped.err


def test_a_target_moved_away_and_back_keeps_no_deleted_file(cli, spec):
    assert cli("apply", spec).code == 0
    parts = spec.parent / "iris-databricks/data/parts"
    parts.mkdir()
    (parts / "part-1.csv").write_text("1\n")
    (parts / "part-2.csv").write_text("2\n")
    assert cli("apply", spec).code == 0
    moved = cli("apply", spec, "--var", "dest=B", "-v")
    assert moved.code == 0
    assert "moved from dbfs:/FileStore/d/A to dbfs:/FileStore/d/B" in moved.out
    assert files(spec.parent / DBFS / "d/A") == []
    (parts / "part-2.csv").unlink()
    assert cli("apply", spec, "--var", "dest=A").code == 0
    at_a = files(spec.parent / DBFS / "d/A")
    assert "parts/part-1.csv" in at_a and "parts/part-2.csv" not in at_a
    assert "01_raw/iris.csv" in at_a
    assert files(spec.parent / DBFS / "d/B") == []
    assert cli("plan", spec, "--detailed-exitcode").code == 0
    destroyed = cli("destroy", spec, "--yes")
    assert destroyed.code == 0 and "did not write" not in destroyed.out
    assert files(spec.parent / DBFS) == []


def test_a_data_entry_taken_out_of_the_spec_takes_its_files_with_it(cli, spec):
    text = spec.read_text()
    two = text.replace("variables:", "variables:\n  other: O").replace(
        "data:\n", "data:\n  - source: conf\n    target: dbfs:/FileStore/d/conf\n")
    spec.write_text(two)
    assert cli("apply", spec).code == 0
    assert files(spec.parent / DBFS / "d/conf")
    spec.write_text(text)
    plan = {a["step"]: a for a in cli("plan", spec, "--json").json()["actions"]}
    removed = plan["data.upload[1]"]
    assert removed["action"] == "remove"
    assert "apply removes the" in removed["reasons"][0] and "d/A" in removed["reasons"][0]
    applied = cli("apply", spec, "-v")
    assert applied.code == 0, applied.out + applied.err
    assert "removed" in applied.out and "it uploaded to dbfs:/FileStore/d/A" in applied.out
    # data.upload[0] moved from d/conf to d/A, where the forgotten data.upload[1] wrote
    assert files(spec.parent / DBFS / "d/conf") == []
    assert "01_raw/iris.csv" in files(spec.parent / DBFS / "d/A")
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_a_copy_changed_in_the_workspace_with_the_same_size_is_found_by_plan(cli, spec):
    assert cli("apply", spec).code == 0
    copy = spec.parent / DBFS / "d/A/01_raw/iris.csv"
    original = copy.read_bytes()
    copy.write_bytes(original.replace(b"setosa", b"SETOSA", 1))
    assert len(copy.read_bytes()) == len(original)
    plan = cli("plan", spec)
    assert plan.code == 0 and "uploaded file missing or changed" in plan.out
    assert cli("apply", spec).code == 0
    assert copy.read_bytes() == original
    os.utime(copy, ns=(1, 1))  # touched, content as uploaded: no change
    assert cli("plan", spec, "--detailed-exitcode").code == 0
    records = StateStore(spec.parent / ".bricksmith/local/state.db").all()
    assert records["data.upload[0]"].outputs["_workflow"] == "iris-databricks"


def test_a_data_file_with_a_255_byte_name_uploads(cli, spec):
    assert cli("apply", spec).code == 0
    name = "L" * 251 + ".csv"
    (spec.parent / "iris-databricks/data/01_raw" / name).write_text("x\n")
    applied = cli("apply", spec)
    assert applied.code == 0, applied.out + applied.err
    assert (spec.parent / DBFS / "d/A/01_raw" / name).read_text() == "x\n"
    assert cli("plan", spec, "--detailed-exitcode").code == 0


def test_destroy_never_removes_data_another_workflow_uploaded(cli, seed):
    """Two specs in one folder share the default target root; whatever the state makes of
    that, destroying alpha never removes a file beta uploaded."""
    text = seed.read_text()
    text = text[: text.index("\nruns:")] + "\n"
    for name in ("alpha", "beta"):
        (seed.parent / f"{name}.yaml").write_text(
            text.replace("name: iris-databricks", f"name: {name}")
            .replace("path: iris-databricks", f"path: {name}")
            .replace("remote: iris-databricks.git", f"remote: {name}.git")
            .replace("dbfs:/FileStore/iris-databricks/data", f"dbfs:/FileStore/{name}/data"))
    assert cli("apply", seed.parent / "alpha.yaml").code == 0
    beta = cli("apply", seed.parent / "beta.yaml")
    beta_files = files(seed.parent / DBFS / "beta")
    assert beta.code != 0 or beta_files
    cli("destroy", seed.parent / "alpha.yaml", "--yes")
    assert files(seed.parent / DBFS / "beta") == beta_files
