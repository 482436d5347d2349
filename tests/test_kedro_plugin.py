"""``kedro bricksmith ...``: finding the project's spec and forwarding to bricksmith's CLI."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from bricksmith import cli
from bricksmith.kedro_plugin import bricksmith, commands, find_spec

SPECS = Path(__file__).resolve().parents[1] / "specs"
SPEC = "version: 1\nname: {name}\nproject: {{path: {path}}}\nrepo: {{remote: ../x.git}}\n"


def kedro_project(folder: Path) -> Path:
    (folder / "src").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "p"\n')
    return folder


@pytest.fixture
def calls(monkeypatch):
    """bricksmith.cli.main replaced by a recorder; ``calls.code`` is what it returns."""
    seen = SimpleNamespace(argv=[], code=0)

    def fake_main(argv):
        seen.argv.append(list(argv))
        return seen.code

    monkeypatch.setattr(cli, "main", fake_main)
    return seen


def invoke(*args: str, obj=None):
    return CliRunner().invoke(bricksmith, list(args), obj=obj)


def test_spec_in_a_parent_folder_is_found_from_inside_the_project(tmp_path, monkeypatch, calls):
    project = kedro_project(tmp_path / "repo" / "specs" / "iris")
    spec = tmp_path / "repo" / "specs" / "iris.yaml"
    spec.write_text(SPEC.format(name="iris", path="iris"))
    (tmp_path / "repo" / "specs" / "other.yaml").write_text(SPEC.format(name="o", path="other"))
    (tmp_path / "repo" / "specs" / "broken.yaml").write_text("project: [unclosed")
    monkeypatch.chdir(project / "src")
    result = invoke("plan", "--target", "dev", "-p", "2", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert calls.argv == [["plan", str(spec), "--target", "dev", "-p", "2", "--detailed-exitcode"]]


def test_specs_folder_above_the_project_and_kedro_metadata_are_used(tmp_path, calls):
    project = kedro_project(tmp_path / "repo" / "iris")
    spec = tmp_path / "repo" / "specs" / "workflow.yaml"
    spec.parent.mkdir()
    spec.write_text(SPEC.format(name="iris", path="../iris"))
    result = invoke("state", "unlock", "--force", obj=SimpleNamespace(project_path=project))
    assert result.exit_code == 0, result.output
    assert calls.argv == [["state", "unlock", str(spec), "--force"]]


def test_exit_codes_are_forwarded(tmp_path, calls):
    calls.code = 2
    spec = tmp_path / "w.yaml"
    result = invoke("plan", "--spec", str(spec), "--detailed-exitcode")
    assert result.exit_code == 2 and calls.argv == [["plan", str(spec), "--detailed-exitcode"]]
    calls.code = 1
    assert invoke("apply", "--spec", str(spec)).exit_code == 1


def test_explicit_spec_skips_the_search(tmp_path, monkeypatch, calls):
    monkeypatch.chdir(tmp_path)  # no Kedro project, no spec around
    result = invoke("status", "--json", "--spec", "elsewhere.yaml")
    assert result.exit_code == 0 and calls.argv == [["status", "elsewhere.yaml", "--json"]]
    monkeypatch.setenv("BRICKSMITH_SPEC", "from-env.yaml")
    invoke("validate")
    assert calls.argv[-1] == ["validate", "from-env.yaml"]


def test_no_spec_found_says_how_to_fix_it(tmp_path, monkeypatch, calls):
    project = kedro_project(tmp_path / "iris")
    (tmp_path / "unrelated.yaml").write_text(SPEC.format(name="x", path="somewhere-else"))
    monkeypatch.chdir(project)
    result = invoke("plan")
    assert result.exit_code == 1 and calls.argv == []
    assert "no bricksmith workflow spec has project.path" in result.output
    assert "--spec PATH" in result.output


def test_several_specs_are_listed_and_none_is_guessed(tmp_path, calls):
    project = kedro_project(tmp_path / "iris")
    for name in ("a.yaml", "b.yml"):
        (tmp_path / name).write_text(SPEC.format(name="iris", path="iris"))
    result = invoke("apply", obj=SimpleNamespace(project_path=project))
    assert result.exit_code == 1 and calls.argv == []
    assert "2 workflow specs" in result.output and "a.yaml" in result.output
    assert "b.yml" in result.output and "--spec" in result.output


def test_search_stops_a_few_folders_up(tmp_path):
    project = kedro_project(tmp_path / "a" / "b" / "c" / "d" / "iris")
    (tmp_path / "a" / "far.yaml").write_text(SPEC.format(name="x", path="b/c/d/iris"))
    with pytest.raises(Exception, match="no bricksmith workflow spec"):
        find_spec(project)
    assert find_spec(project, levels=4) == (tmp_path / "a" / "far.yaml").resolve()


def test_real_forwarding_validates_the_seed_spec(tmp_path, monkeypatch):
    spec = tmp_path / "iris.yaml"
    shutil.copy(SPECS / "iris.yaml", spec)
    project = kedro_project(tmp_path / "iris-databricks")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(commands, ["bricksmith", "validate", "--no-color"])
    assert result.exit_code == 0, result.output
    assert "valid — workflow 'iris-databricks'" in result.output
    schema = CliRunner().invoke(commands, ["bricksmith", "schema"])
    assert schema.exit_code == 0 and '"title": "bricksmith workflow"' in schema.output


def test_entry_point_is_registered_for_kedro():
    points = importlib.metadata.entry_points(group="kedro.project_commands")
    ours = [p for p in points if p.value.startswith("bricksmith.")]
    if not ours:
        pytest.skip("the kedro.project_commands entry point is not installed yet")
    group = ours[0].load()
    assert group is commands and group.get_command(None, "bricksmith") is bricksmith


KEDRO_MAIN = """
import sys
from unittest import mock
import kedro.framework.cli.cli as kedro_cli
from bricksmith.kedro_plugin import commands
real = kedro_cli.load_entry_points
plugins = lambda name: [commands] if name == "project" else real(name)
with mock.patch.object(kedro_cli, "load_entry_points", plugins):
    sys.argv = ["kedro", *sys.argv[1:]]
    kedro_cli.main()
"""


def test_kedro_cli_runs_the_plugin_inside_a_project(tmp_path):
    """The real ``kedro`` CLI (entry point patched in) forwards ``kedro bricksmith validate``."""
    project = kedro_project(tmp_path / "proj")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\n[tool.kedro]\npackage_name = "proj_pkg"\n'
        'project_name = "proj"\nkedro_init_version = "1.0.0"\nsource_dir = "src"\n'
    )
    package = project / "src" / "proj_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("")
    (tmp_path / "w.yaml").write_text(SPEC.format(name="proj", path="proj"))
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-c", KEDRO_MAIN, "bricksmith", "validate", "--no-color"],
        cwd=project / "src",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "valid — workflow 'proj'" in done.stdout


def test_kedro_bricksmith_leaves_the_project_untouched_with_telemetry_on(tmp_path):
    """Case kedro-plugin-telemetry-dirties-project: with telemetry not disabled and no
    ``.telemetry`` file, kedro-telemetry's CLI hook would append ``[tool.kedro_telemetry]
    project_id`` to pyproject.toml; bricksmith's own CLI hook turns it off first."""
    points = importlib.metadata.entry_points(group="kedro.cli_hooks")
    if not [p for p in points if p.value.startswith("bricksmith.")]:
        pytest.skip("the kedro.cli_hooks entry point is not installed yet")
    project = kedro_project(tmp_path / "proj")
    pyproject = (
        '[project]\nname = "proj"\nversion = "0.1"\n[tool.kedro]\npackage_name = "proj_pkg"\n'
        'project_name = "proj"\nkedro_init_version = "1.0.0"\nsource_dir = "src"\n'
    )
    (project / "pyproject.toml").write_text(pyproject)
    package = project / "src" / "proj_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("")
    (tmp_path / "w.yaml").write_text(SPEC.format(name="proj", path="proj"))
    env = {k: v for k, v in os.environ.items() if k not in ("KEDRO_DISABLE_TELEMETRY",
                                                            "DO_NOT_TRACK")}
    env["HOME"] = str(tmp_path)  # kedro-telemetry's user id file lands here, if anywhere
    done = subprocess.run(
        [sys.executable, "-c", KEDRO_MAIN, "bricksmith", "validate", "--no-color"],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (project / "pyproject.toml").read_text() == pyproject
    assert not (project / ".telemetry").exists()


def test_run_forwards_the_run_name_after_the_spec(tmp_path, calls):
    spec = tmp_path / "w.yaml"
    result = invoke("run", "baseline", "-p", "1", "--spec", str(spec))
    assert result.exit_code == 0, result.output
    assert calls.argv == [["run", str(spec), "baseline", "-p", "1"]]


def test_run_spec_then_name_parses_as_only_and_replace():
    args = cli._parser("run").parse_args(["run", "w.yaml", "baseline", "-p", "1"])
    cli._run_names(args)
    assert (args.spec, args.only, args.replace, args.parallelism) == (
        "w.yaml", ["run.baseline"], ["run.baseline"], 1)
    args = cli._parser("run").parse_args(["run", "run.split-70", "specs/x.yml"])
    cli._run_names(args)  # `bricksmith run NAME SPEC` reads the same
    assert (args.spec, args.only) == ("specs/x.yml", ["run.split-70"])
    args = cli._parser("run").parse_args(["run", "baseline"])
    cli._run_names(args)
    assert (args.spec, args.only) == (cli.DEFAULT_SPEC, ["run.baseline"])


def test_pull_is_forwarded_with_its_message(tmp_path, calls):
    spec = tmp_path / "w.yaml"
    result = invoke("pull", "--spec", str(spec), "--message", "Tuned in the workspace")
    assert result.exit_code == 0, result.output
    assert calls.argv == [["pull", str(spec), "--message", "Tuned in the workspace"]]
