import json
from pathlib import Path

import pytest

from bricksmith.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_schema_prints_the_checked_in_schema(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((ROOT / "workflow.schema.json").read_text())
    assert "runs" in printed["properties"]


def test_validate_summarises_a_valid_spec(capsys):
    assert main(["validate", str(ROOT / "specs/iris.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "9 steps" in out and "2 run(s)" in out


def test_emulator_serve_answers_the_real_sdk_and_checks_its_token(tmp_path):
    import os
    import re
    import subprocess
    import sys

    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config
    from databricks.sdk.errors import PermissionDenied

    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env.update(EMU_TOKEN="t0ken", DATABRICKS_CONFIG_FILE=str(tmp_path / "none"))
    server = subprocess.Popen(
        [sys.executable, "-m", "bricksmith.cli", "emulator", "serve", "--port", "0",
         "--root", str(tmp_path / "ws"), "--token-env", "EMU_TOKEN", "--user", "me@example.com"],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        me = WorkspaceClient(config=Config(host=url, token="t0ken")).current_user.me()
        assert me.user_name == "me@example.com"
        try:
            WorkspaceClient(config=Config(host=url, token="nope")).current_user.me()
            raise AssertionError("a wrong token was accepted")
        except PermissionDenied:  # 403 "Invalid access token.", as a real workspace
            pass
    finally:
        server.terminate()
        server.wait(10)
    assert server.returncode == 0


def test_emulator_serve_needs_its_token_variable_set(capsys, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    assert main(["emulator", "serve", "--token-env", "NOT_SET_ANYWHERE"]) == 1
    assert "NOT_SET_ANYWHERE" in capsys.readouterr().err


def test_the_databricks_spec_validates_once_its_cluster_is_named(capsys, monkeypatch):
    monkeypatch.delenv("DATABRICKS_CLUSTER_ID", raising=False)
    spec = str(ROOT / "specs/iris-databricks.yaml")
    assert main(["validate", spec]) == 1
    assert "DATABRICKS_CLUSTER_ID is not set" in capsys.readouterr().err
    monkeypatch.setenv("DATABRICKS_CLUSTER_ID", "0123-456789-abcdefgh")
    assert main(["validate", spec, "--var", "github_user=me"]) == 0
    assert "target 'dev'" in capsys.readouterr().out


def test_bad_arguments_exit_1_naming_the_argument(capsys):
    import pytest

    for argv in (["apply", "w.yaml", "--parallelism", "zero"], ["nonsense"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "argument --parallelism/-p: invalid int value: 'zero'" in err
    assert "invalid choice: 'nonsense'" in err
    assert "Traceback" not in err


def test_schema_reference_prints_the_checked_in_reference(capsys):
    assert main(["schema", "--reference"]) == 0
    assert capsys.readouterr().out == (ROOT / "docs/spec-reference.md").read_text()


def test_init_writes_a_spec_that_validates_and_refuses_to_overwrite_it(tmp_path, capsys):
    folder = tmp_path / "new"
    args = ["init", str(folder), "--non-interactive", "--name", "demo", "--remote", "../d.git"]
    assert main(args) == 0
    spec = folder / "workflow.yaml"
    assert spec.read_text().startswith("# yaml-language-server: $schema=./workflow.schema.json")
    assert json.loads((folder / "workflow.schema.json").read_text())["title"]
    assert main(["validate", str(spec)]) == 0
    assert "workflow 'demo'" in capsys.readouterr().out
    spec.write_text(spec.read_text() + "# mine\n")
    assert main([*args, "--name", "other"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert spec.read_text().endswith("# mine\n")  # nothing was written


def test_graph_formats(tmp_path, capsys):
    spec = str(ROOT / "specs/iris.yaml")
    assert main(["graph", spec, "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph") and '"git.commit" -> "git.push"' in dot
    assert main(["graph", spec, "--format", "mermaid", "--out", str(tmp_path / "g.mmd")]) == 0
    assert (tmp_path / "g.mmd").read_text().startswith("flowchart LR")


def test_graph_png_without_graphviz_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    code = main(["graph", str(ROOT / "specs/iris.yaml"), "--format", "png",
                 "--out", str(tmp_path / "g.png")])
    assert code == 1 and not (tmp_path / "g.png").exists()
    err = capsys.readouterr().err
    assert "graphviz" in err.lower() and "--format dot" in err


def test_out_naming_a_folder(tmp_path, capsys):
    spec = str(ROOT / "specs/iris.yaml")
    assert main(["plan", spec, "--out", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert main(["report", spec, "--out", str(tmp_path)]) == 0  # report.html in it
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["graph", spec, "--format", "dot", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")


def test_only_the_command_given_gets_a_parser():
    from bricksmith import cli

    assert cli._command_of(["--no-color", "plan", "x.yaml"]) == "plan"
    assert cli._command_of(["--help"]) is None and cli._command_of(["plna"]) is None
    plan_only = cli._parser("plan")
    assert plan_only.parse_args(["plan", "x.yaml", "--json"]).json
    with pytest.raises(SystemExit):
        plan_only.parse_args(["apply", "x.yaml"])  # not built
    assert cli._parser().parse_args(["apply", "x.yaml", "-p", "2"]).parallelism == 2


def test_the_spec_defaults_to_workflow_yaml_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--no-color", "plan"]) == 1  # no ./workflow.yaml: said, no traceback
    err = capsys.readouterr().err
    assert "workflow.yaml not found" in err and "Traceback" not in err
    assert main(["init", ".", "--non-interactive", "--name", "demo", "--remote", "d.git"]) == 0
    capsys.readouterr()
    assert main(["--no-color", "validate"]) == 0
    assert "workflow.yaml: valid — workflow 'demo'" in capsys.readouterr().out


def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version

    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"bricksmith {version('bricksmith')}\n"
