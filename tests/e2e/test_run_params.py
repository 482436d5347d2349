"""Run params reach Kedro exactly (case run-params-mangled), each run records the parameters
Kedro used and the warnings it raised, and any project path works (case project-path-with-space):
through the CLI on the local backend and on the emulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bricksmith.emulator import DEFAULT_CLUSTER_ID
from bricksmith.run_params import deep_merge, leaves
from tests.reliability.harness import seed_spec

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "params_echo"

PROJECT_PARAMS = {"train_fraction": 0.8, "model": {"depth": 5}}
# Every value `%reload_kedro --params "k=v,..."` re-typed or cut, and more.
STRINGS = {
    "dquote": 'say "hi" now',
    "squote": "it's",
    "newline": "line one\nline two",
    "str_number": "007",
    "str_float": "1.50",
    "str_bool": "yes",
    "str_null": "null",
    "str_braces": "{a: 1}",
    "empty": "",
    "padded": "  padded  ",
    "hash": "a # b",
    "colon": "k: v",
    "comma": "a,b=c",
    "option": "x --env prod --conf-source /tmp",
    "unicode": "héllo ✓",
}
RUNS = {
    "strings": STRINGS,
    "typed": {
        "train_fraction": 0.7,
        "count": 3,
        "flag": False,
        "nothing": None,
        "tags": ["x", "007", {"k": "v"}],
        "model": {"lr": 0.5, "optimizer": {"name": "adam", "betas": [0.9, 0.99]}},
        "key with spaces=and,commas": "ok",
    },
    "baseline": {},
}


def write_spec(folder: Path, runs: dict, target: str = "local", host: str = "") -> Path:
    shutil.copytree(FIXTURE, folder / "params-echo")
    spec = {
        "version": 1,
        "name": "params-echo",
        "project": {"path": "params-echo", "params": PROJECT_PARAMS},
        "repo": {"remote": "params-echo.git", "branch": "main"},
        "target": target,
        "targets": {
            "local": {"backend": "local", "root": ".bricksmith/local"},
            "emulated": {"backend": "databricks", "host": host or "http://127.0.0.1:9",
                         "cluster_id": DEFAULT_CLUSTER_ID, "root": ".bricksmith/emulated"},
        },
        # the runs pass keys the project does not define: allowed on purpose
        "runs": [{"name": name, **({"params": p, "allow_new_params": True} if p else {})}
                 for name, p in runs.items()],
    }
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    assert yaml.safe_load(path.read_text())["runs"][0].get("params") == next(iter(runs.values()))
    return path


def echoed(log: str) -> dict:
    """The parameters the project's node received, from its ECHO_PARAMS line."""
    line = [x for x in log.splitlines() if x.startswith("ECHO_PARAMS ")][-1]
    return json.loads(line[len("ECHO_PARAMS "):])


def assert_exact(got, want) -> None:
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


def test_run_params_reach_kedro_unchanged_and_are_recorded(cli, tmp_path):
    spec = write_spec(tmp_path, RUNS)
    applied = cli("apply", spec, "-p", "2")
    assert applied.code == 0, applied.out + applied.err
    assert "warning in run strings: UserWarning: echo: the parameters were printed" in (
        applied.out
    )

    status = {run["name"]: run for run in cli("status", spec, "--json").json()["runs"]}
    for name, params in RUNS.items():
        asked = deep_merge(PROJECT_PARAMS, params)
        run = status[name]
        assert run["status"] == "succeeded"
        assert run["effective_params_reported"] is True
        assert_exact(run["effective_params"], asked)  # what Kedro's context.params held
        node = echoed((tmp_path / f".bricksmith/local/logs/runs/{name}.log").read_text())
        for path, value in leaves(asked):  # what the node itself received
            got = node
            for key in path:
                got = got[key]
            assert_exact(got, value)
        assert node["model"]["depth"] == 5  # runtime params merge into the config key by key
        assert run["warnings"] == ["UserWarning: echo: the parameters were printed"]

    assert cli("runs", spec).code == 0
    assert cli("report", spec, "--out", tmp_path / "report.html").code == 0
    page = (tmp_path / "report.html").read_text()
    assert "<td>&quot;007&quot;</td>" in page  # a string that reads as a number is quoted
    assert "<td>&quot;a # b&quot;</td>" in page and "<td>héllo ✓</td>" in page
    assert "warning in run strings: UserWarning: echo: the parameters were printed" in page
    state = (tmp_path / ".bricksmith/local/state.db").read_bytes()
    assert b"effective_params" in state


def test_run_params_on_the_emulator(cli, tmp_path, emulator, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    picked = {k: STRINGS[k] for k in ("dquote", "newline", "str_number", "str_null", "hash")}
    # a cluster path in a param reaches Kedro as sent (not translated like the FUSE mounts)
    runs = {"strings": {**picked, "model": {"lr": 0.5}, "tags": ["007"], "out": "/dbfs/x"}}
    spec = write_spec(tmp_path, runs, target="emulated", host=emulator.url)
    applied = cli("apply", spec)
    assert applied.code == 0, applied.out + applied.err
    [run] = cli("status", spec, "--json").json()["runs"]
    assert_exact(run["effective_params"], deep_merge(PROJECT_PARAMS, runs["strings"]))
    assert run["warnings"] == ["UserWarning: echo: the parameters were printed"]
    logs = "\n".join(p.read_text() for p in (emulator.root / "jobs").glob("*.log"))
    node = echoed(logs)
    for key, value in picked.items():
        assert node[key] == value
    assert node["model"] == {"lr": 0.5, "depth": 5}
    assert node["out"] == "/dbfs/x"


def test_a_run_kedro_gives_other_values_fails_naming_key_values_and_file(cli, tmp_path):
    """The project's run environment overrides a key the spec sets: the run fails, it does not
    record 'succeeded' with parameters other than the spec's."""
    spec = write_spec(tmp_path, {"split": {"train_fraction": 0.7}})
    project = tmp_path / "params-echo"
    settings = project / "src/iris_databricks/settings.py"
    settings.write_text(settings.read_text().replace('"local"', '"prod"'))
    (project / "conf/prod").mkdir()
    (project / "conf/prod/parameters.yml").write_text("model:\n  depth: 9\n")
    failed = cli("apply", spec)
    assert failed.code == 1
    assert "Traceback" not in failed.out + failed.err
    assert "run split ran with other parameters than the spec asked for" in failed.err
    assert "model.depth: asked 5, Kedro used 9 (the value is set in conf/prod/parameters.yml)" in (
        failed.err
    )
    [run] = cli("status", spec, "--json").json()["runs"]
    assert run["status"] == "failed" and run["metrics"] is None


def test_a_project_path_with_spaces_and_quotes(cli, tmp_path):
    folder = tmp_path / "it's my \"seed\" folder"
    folder.mkdir()
    spec = seed_spec(folder)
    applied = cli("apply", spec)
    assert applied.code == 0, applied.out + applied.err
    runs = {run["name"]: run for run in cli("status", spec, "--json").json()["runs"]}
    assert runs["baseline"]["effective_params"] == {"train_fraction": 0.8}
    assert runs["split-70"]["effective_params"] == {"train_fraction": 0.7}
    assert round(runs["baseline"]["metrics"]["accuracy"], 3) == 0.933
    assert round(runs["split-70"]["metrics"]["accuracy"], 3) == 0.956
