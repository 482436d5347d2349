"""The plan memo on the seed workflow: a no-op plan is remembered, the next one replays it,
and every kind of change sends the plan down the full path, which reports it."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from bricksmith import api
from bricksmith.engine.state import StateStore
from bricksmith.plan import memo

NOTHING = "0 to create, 0 to update, 0 to resume, 9 unchanged"


@pytest.fixture
def planner(cli, seed, monkeypatch):
    """``plan(*args)`` plans the seed and returns (result, replayed?): replayed when the plan
    never loaded the spec."""
    loads = []
    real = api.load
    monkeypatch.setattr(api, "load", lambda *a, **k: loads.append(a) or real(*a, **k))

    def plan(*args):
        before = len(loads)
        result = cli("plan", seed, *args)
        assert result.code == 0, result.out + result.err
        return result, len(loads) == before

    return plan


@pytest.fixture
def applied(cli, seed, planner):
    """The seed applied; (its folder, ``planner``)."""
    assert cli("apply", seed).code == 0
    return seed.parent, planner


def _remembered(plan):
    """Plan until the memo is written (the full path, nothing to do), then replay it."""
    full, replayed = plan()
    assert NOTHING in full.out
    again, replayed = plan()
    assert replayed and again.out == full.out
    return again


def test_the_second_no_op_plan_replays_the_memo_and_says_the_same(applied, seed):
    folder, plan = applied
    first, replayed = plan()
    assert not replayed and NOTHING in first.out
    assert os.path.isfile(memo.memo_path(seed, None))
    second, replayed = plan()
    assert replayed and second.out == first.out
    as_json, replayed = plan("--json")
    assert replayed
    assert {a["action"] for a in as_json.json()["actions"]} == {"noop"}
    assert as_json.json()["summary"] == {"create": 0, "update": 0, "resume": 0, "noop": 9,
                                         "remove": 0}


def _git(*args):
    return subprocess.run(["git", *map(str, args)], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.parametrize(
    "change, expected",
    [
        ("a data file", "~ data.upload[0]"),
        ("the params file", "~ project.params"),
        ("a new file in the project", "~ git.commit"),
        ("a file in the workspace repo", "~ workspace.repo"),
        ("the deployed notebook", "~ notebook.deploy"),
        ("the remote branch", "~ git.push"),
        ("the state", "! run.baseline"),
    ],
)
def test_every_kind_of_change_is_seen_and_the_memo_comes_back(applied, change, expected):
    folder, plan = applied
    _remembered(plan)
    project = folder / "iris-databricks"
    clone = folder / ".bricksmith/local/Workspace/Repos/local-user/iris-databricks"
    notebook = folder / ".bricksmith/local/Workspace/Users/local-user/.bricksmith/iris-databricks"
    notebook = notebook / "run.py"
    remote = folder / "iris-databricks.git"
    files = {
        "a data file": project / "data/01_raw/iris.csv",
        "the params file": project / "conf/base/parameters.yml",
        "a file in the workspace repo": clone / "README.md",
        "the deployed notebook": notebook,
    }
    undo = None
    if change in files:
        file = files[change]
        original = file.read_bytes()
        changed = original.replace(b"0.8", b"0.75") if change == "the params file" else (
            original + b"\n# changed\n")
        assert changed != original
        file.write_bytes(changed)

        def undo():
            file.write_bytes(original)
            then = time.time() - 10  # restored a while ago: a file written just now is "racy"
            os.utime(file, (then, then))
    elif change == "a new file in the project":
        (project / "notes.txt").write_text("x")
        undo = (project / "notes.txt").unlink
    elif change == "the remote branch":
        head = _git("-C", remote, "rev-parse", "main")
        other = _git("-C", remote, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "x")
        _git("-C", remote, "update-ref", "refs/heads/main", other)
        undo = lambda: _git("-C", remote, "update-ref", "refs/heads/main", head)  # noqa: E731
    else:
        store = StateStore(folder / ".bricksmith/local/state.db")
        store.mark_failed("run.baseline", "a failure recorded meanwhile")
        store.close()
    seen, replayed = plan()
    assert not replayed and expected in seen.out
    if undo:
        undo()
        _remembered(plan)


def test_a_changed_spec_or_var_is_planned_in_full(applied, seed):
    folder, plan = applied
    _remembered(plan)
    seed.write_text(seed.read_text() + "\nvariables: {extra: '0'}\n")
    edited, replayed = plan()
    assert not replayed and NOTHING in edited.out
    with_var, replayed = plan("--var", "extra=1")
    assert not replayed and NOTHING in with_var.out


def test_no_refresh_replays_without_probing_as_its_full_plan_does_not_look(applied):
    folder, plan = applied
    _remembered(plan)
    data = folder / "iris-databricks/data/01_raw/iris.csv"
    data.write_text(data.read_text() + "5.0,3.0,1.0,0.2,setosa\n")
    quick, replayed = plan("--no-refresh")
    assert replayed and NOTHING in quick.out
    full, replayed = plan()
    assert not replayed and "~ data.upload[0]" in full.out


def test_memos_can_be_turned_off(applied, seed, monkeypatch):
    folder, plan = applied
    _remembered(plan)
    monkeypatch.setenv("BRICKSMITH_PLAN_MEMO", "0")
    result, replayed = plan()
    assert not replayed and NOTHING in result.out


REPLAY_IMPORTS = """
import json, sys
from bricksmith import cli
code = cli.main(sys.argv[1:])
heavy = ("pydantic", "yaml", "rich", "dataclasses", "bricksmith.api", "bricksmith.spec.models")
print(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))
"""


def test_a_replayed_plan_loads_neither_the_models_nor_the_yaml_parser(applied, seed):
    import json
    import sys

    folder, plan = applied
    _remembered(plan)
    done = subprocess.run([sys.executable, "-c", REPLAY_IMPORTS, "plan", str(seed)],
                          capture_output=True, text=True, check=True)
    assert NOTHING in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, []], done.stderr



def test_a_plan_from_scratch_and_a_plan_with_changes_are_replayed_too(cli, seed, planner):
    def plan(*args):
        result, replayed = planner(*args)
        return result.out, replayed

    scratch, replayed = plan()
    assert not replayed and "9 to create" in scratch
    again, replayed = plan()
    assert replayed and again == scratch  # no state, nothing checked: the spec decides

    assert cli("apply", seed).code == 0
    after, replayed = plan()
    assert not replayed and NOTHING in after  # the state exists now

    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    changed, replayed = plan()
    assert not replayed and "~ project.params" in changed
    assert "params.train_fraction: 0.8 → 0.7" in changed
    same, replayed = plan()
    assert replayed and same == changed
