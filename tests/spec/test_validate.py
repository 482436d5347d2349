from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bricksmith.errors import SpecError, UsageError
from bricksmith.spec import LoadedSpec, Workflow, load_spec
from bricksmith.spec.models import DatabricksTarget, LocalTarget

from .conftest import EXAMPLE, EXAMPLE_ENV, MINIMAL


def problems(path: Path, *, env=None, variables=None):
    with pytest.raises(SpecError) as info:
        load_spec(path, environ=env if env is not None else {}, variables=variables)
    return info.value.diagnostics


def only(path: Path, **kw):
    diagnostics = problems(path, **kw)
    assert len(diagnostics) == 1, [d.render() for d in diagnostics]
    return diagnostics[0]


def by_path(diagnostics):
    return {d.path: d for d in diagnostics}


# ---------------------------------------------------------------------------------- valid


def test_design_example_loads(write_spec, tmp_path):
    path = write_spec(EXAMPLE)
    spec = load_spec(path, environ=EXAMPLE_ENV)
    assert isinstance(spec, LoadedSpec)
    assert spec.path == path.resolve()
    assert spec.base_dir == tmp_path.resolve()
    workflow = spec.workflow
    assert isinstance(workflow, Workflow)
    assert workflow.name == "iris-databricks"
    assert workflow.project.starter == "databricks-iris"
    assert workflow.project.params == {"train_fraction": 0.8}
    assert workflow.repo.remote == "../iris-databricks.git"
    assert workflow.target == "local"
    assert isinstance(workflow.targets["local"], LocalTarget)
    dev = workflow.targets["dev"]
    assert isinstance(dev, DatabricksTarget)
    assert dev.cluster_id == "0123-456789-abcdef"
    assert dev.profile == "DEFAULT"
    assert workflow.data[0].target == "dbfs:/FileStore/iris-databricks/data"
    assert [run.name for run in workflow.runs] == ["baseline", "split-70"]
    assert workflow.runs[1].params == {"train_fraction": 0.7}
    assert spec.document.data["targets"]["dev"]["cluster_id"] == "0123-456789-abcdef"
    assert spec.document.position(("runs", 1, "name")) == (32, 5)


def test_resolve_path(write_spec, tmp_path):
    spec = load_spec(write_spec(MINIMAL), environ={})
    base = tmp_path.resolve()
    assert spec.resolve_path("demo") == base / "demo"
    assert spec.resolve_path("../demo.git") == base.parent / "demo.git"
    assert spec.resolve_path("a/./b/../c") == base / "a" / "c"
    assert spec.resolve_path("/abs/x") == Path("/abs/x")


def test_relative_spec_path_resolves(write_spec, tmp_path, monkeypatch):
    write_spec(MINIMAL, "sub/workflow.yaml")
    monkeypatch.chdir(tmp_path)
    spec = load_spec("sub/workflow.yaml", environ={})
    assert spec.base_dir == (tmp_path / "sub").resolve()
    assert spec.document.file == "sub/workflow.yaml"


def test_defaults(write_spec):
    workflow = load_spec(write_spec(MINIMAL), environ={}).workflow
    assert workflow.target == "local"
    assert list(workflow.targets) == ["local"]
    assert workflow.project.starter == "databricks-iris"
    assert workflow.repo.branch == "main"
    assert workflow.runs == [] and workflow.data == []


def test_environ_defaults_to_os_environ(write_spec, monkeypatch):
    monkeypatch.setenv("DATABRICKS_CLUSTER_ID", "from-os")
    spec = load_spec(write_spec(EXAMPLE))
    assert spec.workflow.targets["dev"].cluster_id == "from-os"


def test_variables_and_overrides(write_spec):
    path = write_spec(
        """\
        version: 1
        name: demo
        variables:
          tf: 0.8
        project:
          path: demo
          params: {train_fraction: "${var.tf}"}
        repo:
          remote: ../demo.git
        runs:
          - name: tuned
            params: {train_fraction: "${var.tf}"}
        """
    )
    assert load_spec(path, environ={}).workflow.runs[0].params["train_fraction"] == 0.8
    workflow = load_spec(path, environ={}, variables={"tf": "0.7"}).workflow
    assert workflow.variables == {"tf": 0.7}
    assert workflow.project.params["train_fraction"] == 0.7
    assert workflow.runs[0].params["train_fraction"] == 0.7


def test_free_form_params_take_any_key(write_spec):
    path = write_spec(MINIMAL + "runs:\n  - name: a\n    params: {trian_fraction: 1}\n")
    assert load_spec(path, environ={}).workflow.runs[0].params == {"trian_fraction": 1}


def test_get_target(write_spec):
    spec = load_spec(write_spec(EXAMPLE), environ=EXAMPLE_ENV)
    assert spec.get_target() == ("local", spec.workflow.targets["local"])
    assert spec.get_target("dev")[0] == "dev"
    with pytest.raises(UsageError) as info:
        spec.get_target("deb")
    assert "unknown target 'deb'" in info.value.message
    assert info.value.hint == "did you mean --target dev? defined: local, dev"


def test_validation_writes_nothing(write_spec, tmp_path):
    path = write_spec(EXAMPLE)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    load_spec(path, environ=EXAMPLE_ENV)
    with pytest.raises(SpecError):
        load_spec(path, environ={}, target="dev")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# ------------------------------------------------------------------------- model errors


def test_unknown_top_level_key_did_you_mean(write_spec):
    diag = only(write_spec(MINIMAL + "runz:\n  - name: a\n"))
    assert diag.path == "runz"
    assert diag.message == "unknown key 'runz'"
    assert diag.hint == "did you mean 'runs'?"
    assert (diag.line, diag.column) == (7, 1)
    assert diag.file.endswith("workflow.yaml")


def test_unknown_nested_key(write_spec):
    diag = only(write_spec(MINIMAL + "targets:\n  local:\n    backend: local\n    rooot: x\n"))
    assert diag.path == "targets.local.rooot"
    assert diag.hint == "did you mean 'root'?"
    assert (diag.line, diag.column) == (10, 5)


def test_unknown_key_that_belongs_elsewhere(write_spec):
    diag = only(write_spec(MINIMAL + "params: {a: 1}\n"))
    assert diag.path == "params"
    assert "'params' belongs in project: or a runs: item" in diag.hint


def test_unknown_key_without_match_lists_valid_keys(write_spec):
    diag = only(write_spec(MINIMAL.replace("  path: demo\n", "  path: demo\n  zzz: 1\n")))
    assert diag.path == "project.zzz"
    assert diag.hint == (
        "valid keys here: starter, starter_directory, starter_checkout, path, params, "
        "allow_new_params")


def test_wrong_type_says_what_is_expected(write_spec):
    diag = only(write_spec(MINIMAL.replace("name: demo", "name: 123")))
    assert diag.path == "name"
    assert diag.message == "expected a string, got the integer 123"
    assert diag.hint == 'quote it to make it text: name: "123"'
    assert (diag.line, diag.column) == (2, 7)


def test_wrong_type_mapping_expected(write_spec):
    diag = only(write_spec(MINIMAL.replace("repo:\n  remote: ../demo.git\n", "repo:\n")))
    assert diag.path == "repo"
    assert diag.message == "expected a mapping, got nothing (null)"
    assert "indent" in diag.hint


def test_wrong_type_list_expected(write_spec):
    diag = only(write_spec(MINIMAL + "runs:\n  name: a\n"))
    assert diag.path == "runs"
    assert diag.message == "expected a list, got a mapping"
    assert "'- '" in diag.hint
    assert (diag.line, diag.column) == (8, 3)


def test_variable_of_wrong_type(write_spec):
    diag = only(write_spec(MINIMAL + "variables:\n  x: [1, 2]\n"))
    assert diag.path == "variables.x"
    assert diag.message == (
        "expected a string, an integer, a number or true or false, got a list"
    )


def test_missing_required_key_points_at_parent(write_spec):
    diag = only(write_spec(MINIMAL.replace("  path: demo\n", "  starter: databricks-iris\n")))
    assert diag.path == "project.path"
    assert diag.message == "missing required key 'path'"
    assert (diag.line, diag.column) == (3, 1)  # the `project:` line
    assert diag.hint.startswith("add `path: iris-databricks` under project:")


def test_missing_top_level_key(write_spec):
    diag = only(write_spec(MINIMAL.replace("repo:\n  remote: ../demo.git\n", "")))
    assert diag.path == "repo"
    assert diag.message == "missing required key 'repo'"
    assert diag.hint.startswith("add `repo:` at the top level")
    assert (diag.line, diag.column) == (1, 1)


def test_wrong_version(write_spec):
    diag = only(write_spec(MINIMAL.replace("version: 1", "version: 2")))
    assert diag.path == "version"
    assert diag.message == "unsupported spec version 2"
    assert diag.hint == "only version 1 is supported: write `version: 1`"
    assert (diag.line, diag.column) == (1, 10)
    # YAML's true equals 1 in Python; the models refuse it as the schema does
    boolean = only(write_spec(MINIMAL.replace("version: 1", "version: true")))
    assert boolean.message == "unsupported spec version True" and boolean.path == "version"


def test_version_as_text(write_spec):
    diag = only(write_spec(MINIMAL.replace("version: 1", 'version: "1"')))
    assert diag.path == "version"
    assert "version 1" in diag.hint


def test_missing_version(write_spec):
    diag = only(write_spec(MINIMAL.replace("version: 1\n", "")))
    assert diag.message == "missing required key 'version'"
    assert diag.hint.startswith("add `version: 1` at the top of the file")


def test_invalid_name(write_spec):
    diag = only(write_spec(MINIMAL.replace("name: demo", "name: iris databricks")))
    assert diag.message == "invalid name 'iris databricks'"
    assert "Letters, digits" in diag.hint


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("runs:\n  - name: ../evil\n", "runs[0].name"),
        ("runs:\n  - name: a/b\n", "runs[0].name"),
        ("runs:\n  - name: .hidden\n", "runs[0].name"),
        ("target: ..\ntargets:\n  '..': {backend: local}\n", 'targets[".."]'),
    ],
)
def test_names_cannot_escape_a_folder(write_spec, text, path):
    diagnostics = problems(write_spec(MINIMAL + text))
    assert path in {d.path for d in diagnostics}
    assert all(d.message.startswith("invalid name") for d in diagnostics if d.path == path)


def test_invalid_target_name_points_at_the_key(write_spec):
    targets = "targets:\n  local: {backend: local}\n  bad name: {backend: local}\n"
    diag = only(write_spec(MINIMAL + targets))
    assert diag.path == 'targets["bad name"]'
    assert diag.message == "invalid name 'bad name'"
    assert (diag.line, diag.column) == (9, 3)


def test_unknown_backend_did_you_mean(write_spec):
    diag = only(write_spec(MINIMAL + "targets:\n  local:\n    backend: databrick\n"))
    assert diag.path == "targets.local.backend"
    assert diag.message == "unknown backend 'databrick'"
    assert diag.hint == "did you mean 'databricks'? backend is one of: local, databricks"
    assert (diag.line, diag.column) == (9, 14)


def test_missing_backend_guesses_from_keys(write_spec):
    diag = only(write_spec(MINIMAL + "targets:\n  local:\n    cluster_id: abc\n"))
    assert diag.path == "targets.local.backend"
    assert diag.message == "missing required key 'backend'"
    assert diag.hint == "add `backend: databricks` under targets.local:"
    assert (diag.line, diag.column) == (8, 3)


def test_missing_backend_ambiguous(write_spec):
    diag = only(write_spec(MINIMAL + "targets:\n  local:\n    root: x\n"))
    assert diag.hint == "add `backend: local` or `backend: databricks` under targets.local:"


def test_number_constraint(write_spec):
    diag = only(write_spec(MINIMAL + "runs:\n  - name: a\n    timeout_minutes: 0\n"))
    assert diag.path == "runs[0].timeout_minutes"
    assert diag.message == "must be greater than 0, got 0"


def test_empty_string(write_spec):
    diag = only(write_spec(MINIMAL.replace("path: demo", 'path: ""')))
    assert diag.path == "project.path"
    assert diag.message == "must not be empty"


def test_data_target_prefix(write_spec):
    diag = only(write_spec(MINIMAL + "data:\n  - source: data\n    target: s3://bucket/x\n"))
    assert diag.path == "data[0].target"
    assert diag.message == "invalid value 's3://bucket/x'"
    assert "dbfs:/" in diag.hint


def test_schema_catches_what_pydantic_coerces(write_spec):
    diag = only(write_spec(MINIMAL + 'runs:\n  - name: a\n    timeout_minutes: "5"\n'))
    assert diag.path == "runs[0].timeout_minutes"
    assert diag.message == "expected a number, got the string '5'"
    assert "quotes" in diag.hint
    assert (diag.line, diag.column) == (9, 22)


# ------------------------------------------------------------------------- semantic checks


def test_duplicate_run_names_point_at_the_second(write_spec):
    diag = only(write_spec(MINIMAL + "runs:\n  - name: a\n  - name: b\n  - name: a\n"))
    assert diag.path == "runs[2].name"
    assert diag.message == "run name 'a' is already used by runs[0]"
    assert (diag.line, diag.column) == (10, 11)
    assert "unique" in diag.hint


def test_undefined_target_did_you_mean(write_spec):
    diag = only(
        write_spec(MINIMAL + "target: deb\ntargets:\n  local: {backend: local}\n"
                   "  dev: {backend: databricks, cluster_id: c1}\n")
    )
    assert diag.path == "target"
    assert diag.message == "target 'deb' is not defined in targets"
    assert diag.hint == "did you mean 'dev'? defined: local, dev"
    assert (diag.line, diag.column) == (7, 9)


def test_no_default_target(write_spec):
    diag = only(write_spec(MINIMAL + "targets:\n  dev: {backend: databricks, cluster_id: c1}\n"))
    assert diag.path == "target"
    assert "no default target" in diag.message
    assert diag.hint == "add `target: dev` (defined: dev)"
    assert diag.line == 7  # the targets: line


def test_empty_targets(write_spec):
    diag = only(write_spec(MINIMAL + "targets: {}\n"))
    assert diag.path == "targets"
    assert diag.message == "no targets are defined"


@pytest.mark.parametrize("value", ["iris", "../iris", "a/b", "."])
def test_project_path_relative_ok(write_spec, value):
    load_spec(write_spec(MINIMAL.replace("path: demo", f"path: {value}")), environ={})


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("/srv/iris", "is absolute"), ("~/iris", "'~'"), ("C:\\iris", "is absolute")],
)
def test_project_path_must_be_relative(write_spec, value, fragment):
    diag = only(write_spec(MINIMAL.replace("path: demo", f"path: '{value}'")))
    assert diag.path == "project.path"
    assert fragment in diag.message
    assert (diag.line, diag.column) == (4, 9)


@pytest.mark.parametrize("source", ["data", "data/01_raw", "./data", "a/../data", "."])
def test_data_source_inside_project(write_spec, source):
    text = MINIMAL + f"data:\n  - source: '{source}'\n    target: dbfs:/x\n"
    load_spec(write_spec(text), environ={})


@pytest.mark.parametrize(
    ("source", "fragment"),
    [("../data", "leaves the project"), ("data/../../x", "leaves the project"),
     ("/data", "is absolute"), ("~/data", "'~'")],
)
def test_data_source_must_stay_inside(write_spec, source, fragment):
    diag = only(write_spec(MINIMAL + f"data:\n  - source: '{source}'\n    target: dbfs:/x\n"))
    assert diag.path == "data[0].source"
    assert fragment in diag.message
    assert (diag.line, diag.column) == (8, 13)


@pytest.mark.parametrize(
    "target",
    ["dbfs:/FileStore/x/data", "dbfs:/x/", "/Volumes/main/default/vol",
     "/Volumes/main/default/vol/data"],
)
def test_data_target_ok(write_spec, target):
    load_spec(write_spec(MINIMAL + f"data:\n  - source: data\n    target: {target}\n"), environ={})


@pytest.mark.parametrize(
    ("target", "fragment"),
    [("dbfs:/", "needs a folder"), ("dbfs:/a/../b", "'..'"), ("dbfs:/a/./b", "'.'"),
     ("dbfs:/a//b", "empty path segment"), ("/Volumes/main/default", "needs catalog"),
     ("/Volumes/main/../x/y", "'..'")],
)
def test_data_target_invalid(write_spec, target, fragment):
    diag = only(write_spec(MINIMAL + f"data:\n  - source: data\n    target: {target}\n"))
    assert diag.path == "data[0].target"
    assert fragment in diag.message
    assert "/Volumes/<catalog>/<schema>/<volume>" in diag.hint


def test_data_targets_must_not_overlap(write_spec):
    text = MINIMAL + (
        "data:\n  - {source: a, target: dbfs:/x}\n  - {source: b, target: dbfs:/y}\n"
        "  - {source: c, target: dbfs:/x/sub}\n"
    )
    diag = only(write_spec(text))
    assert diag.path == "data[2].target"
    assert diag.message == "target 'dbfs:/x/sub' overlaps data[0].target"


@pytest.mark.parametrize(
    "remote",
    ["https://github.com/me/iris.git", "http://127.0.0.1:8080/me/iris.git",
     "ssh://git@github.com/me/iris.git", "git@github.com:me/iris.git",
     "file:///srv/git/iris.git", "../iris.git", "/srv/git/iris.git", "iris.git",
     "ssh://me@github.com:22/me/iris.git"],
)
def test_remote_ok(write_spec, remote):
    load_spec(write_spec(MINIMAL.replace("../demo.git", remote)), environ={})


@pytest.mark.parametrize(
    ("remote", "message", "hint"),
    [
        ("htps://github.com/me/x.git", "unsupported URL scheme 'htps'", "did you mean https://?"),
        ("https://me:ghp_secret@github.com/me/x.git", "contains a password or token",
         "token_env"),
        ("github.com/me/x.git", "looks like a host name without a scheme",
         "https://github.com/me/x.git"),
        ("https:///me/x.git", "has no host", None),
        ("https://github.com", "has no repository path", None),
        ("'../my repo.git'", "contains whitespace", None),
        ("~/repos/x.git", "'~' is not expanded", None),
        ("github.com:me/x.git", "looks like an ssh URL without a user", "git@github.com:me/x.git"),
        ("git+https://github.com/me/x.git", "unsupported URL scheme 'git+https'", None),
    ],
)
def test_remote_invalid(write_spec, remote, message, hint):
    diag = only(write_spec(MINIMAL.replace("../demo.git", remote)))
    assert diag.path == "repo.remote"
    assert message in diag.message
    assert (diag.line, diag.column) == (6, 11)
    if hint:
        assert hint in diag.hint


@pytest.mark.parametrize(
    "remote",
    ["https://u:s3cr3t@h.io/me/x.git", "https://s3cr3t@h.io/me/x.git",
     "http://s3cr3t@127.0.0.1:8080/me/x.git", "https://s3cr3t:@h.io/me/x.git",
     "https://me@github.com/me/iris.git", "git://s3cr3t@h.io/me/x.git"],
)
def test_a_credential_in_the_remote_url_is_refused_and_never_echoed(write_spec, remote):
    diag = only(write_spec(MINIMAL.replace("../demo.git", remote)))
    assert diag.path == "repo.remote" and (diag.line, diag.column) == (6, 11)
    assert "token" in diag.message and "repo.token_env" in diag.hint
    assert "s3cr3t" not in diag.render() and "://***@" in diag.message


def test_a_token_from_the_environment_in_the_remote_url_is_refused(tmp_path):
    spec = tmp_path / "workflow.yaml"
    spec.write_text(MINIMAL.replace("../demo.git", "https://${env.GH_TOKEN}@h.io/me/x.git"))
    with pytest.raises(SpecError) as err:
        load_spec(spec, environ={"GH_TOKEN": "ghp_s3cr3t"})
    text = str(err.value)
    assert "repo.remote" in text and "repo.token_env" in text and "ghp_s3cr3t" not in text


@pytest.mark.parametrize("branch", ["main/../x", "feature/", "a..b", "a/.hidden", "x.lock"])
def test_invalid_branch(write_spec, branch):
    diag = only(write_spec(MINIMAL + f"  branch: '{branch}'\n"))
    assert diag.path == "repo.branch"
    assert diag.message.startswith(f"invalid branch name '{branch}'")


def test_starter_builtin_and_git_url(write_spec):
    for starter in ("databricks-iris", "https://github.com/kedro-org/kedro-starters.git",
                    "git@github.com:me/starter.git", "git+https://github.com/me/s.git#iris",
                    "file:///srv/starters.git", "../starters/iris.git"):
        text = MINIMAL.replace("  path: demo\n", f"  path: demo\n  starter: '{starter}'\n")
        load_spec(write_spec(text), environ={})


def test_starter_local_folder(write_spec, tmp_path):
    template = tmp_path / "templates" / "mine"
    template.mkdir(parents=True)
    (template / "cookiecutter.json").write_text("{}")
    text = MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: templates/mine\n")
    spec = load_spec(write_spec(text), environ={})
    # what validation relied on, for a plan memo to check again (both with a cached spec)
    assert spec.facts == {str(template): "dir", str(template / "HEAD"): "missing",
                          str(template / "cookiecutter.json"): "file"}
    assert load_spec(write_spec(text), environ={}).facts == spec.facts
    assert len(spec.source_sha256) == len(spec.inputs_sha256) == 64


def test_starter_folder_with_tilde(write_spec, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "tpl").mkdir(parents=True)
    (home / "tpl" / "cookiecutter.json").write_text("{}")
    monkeypatch.setenv("HOME", str(home))
    load_spec(write_spec(MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: ~/tpl\n")),
              environ={})


def test_starter_git_repository_folder(write_spec, tmp_path):
    """A local repository's working tree is used as it is (as Kedro does), so its template is
    checked; at a starter_checkout, or bare, its content is only known once cloned."""
    (tmp_path / "starter-repo" / ".git").mkdir(parents=True)
    text = MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: starter-repo\n")
    assert "no cookiecutter.json" in only(write_spec(text)).message
    checkout = MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: starter-repo\n"
                               "  starter_checkout: v1.0\n")
    load_spec(write_spec(checkout), environ={})
    (tmp_path / "bare.git" / "objects").mkdir(parents=True)
    (tmp_path / "bare.git" / "HEAD").write_text("ref: refs/heads/main\n")
    bare = MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: 'bare.git#iris'\n")
    load_spec(write_spec(bare), environ={})


def test_builtin_starters_match_the_starters_package():
    from bricksmith.spec.checks import BUILTIN_STARTERS
    from bricksmith.starters import BUILTIN_STARTERS as SHIPPED

    assert BUILTIN_STARTERS == SHIPPED


def test_starter_folder_without_cookiecutter(write_spec, tmp_path):
    (tmp_path / "tpl").mkdir()
    diag = only(write_spec(MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: tpl\n")))
    assert diag.path == "project.starter"
    assert "not a Kedro starter" in diag.message
    assert "cookiecutter.json" in diag.hint


def test_unknown_starter(write_spec):
    text = MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: databricks-irs\n")
    diag = only(write_spec(text))
    assert diag.path == "project.starter"
    assert diag.message == "unknown starter 'databricks-irs'"
    assert diag.hint.startswith("did you mean 'databricks-iris'? built-in starters:")
    assert (diag.line, diag.column) == (5, 12)


def test_unknown_starter_without_close_match_lists_builtins(write_spec):
    text = MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: spaceflights\n")
    diag = only(write_spec(text))
    assert diag.hint == (
        "built-in starters: databricks-iris; or give a local starter folder or a git URL"
    )


def test_missing_starter_folder(write_spec):
    text = MINIMAL.replace("  path: demo\n", "  path: demo\n  starter: ./templates/nope\n")
    diag = only(write_spec(text))
    assert diag.message == "starter folder './templates/nope' does not exist"
    assert "relative to the spec file's folder" in diag.hint


def with_starter(*lines: str) -> str:
    return MINIMAL.replace("  path: demo\n", "  path: demo\n" + "".join(f"  {x}\n" for x in lines))


def _template(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "cookiecutter.json").write_text("{}")


def test_starter_folder_inside_a_local_folder(write_spec, tmp_path):
    _template(tmp_path / "starters" / "iris")
    load_spec(write_spec(with_starter("starter: starters", "starter_directory: iris")), environ={})
    load_spec(write_spec(with_starter("starter: 'starters#iris'")), environ={})


def test_starter_directory_missing_is_reported_where_it_is_written(write_spec, tmp_path):
    _template(tmp_path / "starters" / "iris")
    _template(tmp_path / "starters" / "spaceflights")
    diag = only(write_spec(with_starter("starter: starters", "starter_directory: irs")))
    assert diag.path == "project.starter_directory"
    assert diag.message == "starter folder 'starters' has no folder 'irs'"
    assert diag.hint == "starters in it: iris, spaceflights; name one with starter_directory"
    assert (diag.line, diag.column) == (6, 22)
    diag = only(write_spec(with_starter("starter: 'starters#irs'")))
    assert (diag.path, diag.line, diag.column) == ("project.starter", 5, 12)
    assert diag.message == "starter folder 'starters' has no folder 'irs'"


def test_starter_directory_without_cookiecutter(write_spec, tmp_path):
    (tmp_path / "starters" / "iris").mkdir(parents=True)
    diag = only(write_spec(with_starter("starter: starters", "starter_directory: iris")))
    assert diag.path == "project.starter_directory"
    assert diag.message == "starter folder 'starters/iris' is not a Kedro starter " \
        "(no cookiecutter.json)"
    assert "cookiecutter.json" in diag.hint


def test_a_folder_of_starters_without_a_directory_names_them(write_spec, tmp_path):
    _template(tmp_path / "starters" / "iris")
    diag = only(write_spec(with_starter("starter: starters")))
    assert diag.path == "project.starter"
    assert diag.hint == "starters in it: iris; name one with starter_directory"


def test_starter_options_that_cannot_apply(write_spec, tmp_path):
    _template(tmp_path / "tpl")
    found = by_path(problems(write_spec(with_starter(
        "starter_directory: iris", "starter_checkout: v1"))))  # the built-in default
    assert set(found) == {"project.starter_directory", "project.starter_checkout"}
    assert found["project.starter_checkout"].message == (
        "starter_checkout does not apply to the built-in starter 'databricks-iris'")
    assert (found["project.starter_checkout"].line, found["project.starter_checkout"].column) == (
        6, 21)
    diag = only(write_spec(with_starter("starter: tpl", "starter_checkout: v1")))
    assert diag.path == "project.starter_checkout"
    assert "needs a git repository" in diag.message
    diag = only(write_spec(with_starter("starter: 'tpl#a'", "starter_directory: b")))
    assert diag.path == "project.starter_directory"
    assert "name different folders" in diag.message
    diag = only(write_spec(with_starter("starter: tpl", "starter_directory: ../elsewhere")))
    assert diag.message == "starter folder '../elsewhere' must be a relative path inside the " \
        "starter"
    diag = only(write_spec(with_starter("starter: 'databricks-iris#x'")))
    assert diag.message == "the built-in starter 'databricks-iris' has no folder '#x'"


def test_git_starter_options_are_not_fetched(write_spec):
    for url in ("https://127.0.0.1:9/nowhere.git", "git@example.invalid:me/s.git"):
        load_spec(write_spec(with_starter(f"starter: '{url}'", "starter_directory: iris",
                                          "starter_checkout: v1.0")), environ={})


def test_starter_url_with_a_folder_is_checked_as_a_url(write_spec):
    diag = only(write_spec(with_starter("starter: 'htps://github.com/me/s.git#iris'")))
    assert diag.message.startswith("starter 'htps://github.com/me/s.git#iris': unsupported URL")


def test_databricks_host_must_be_a_url(write_spec):
    text = (MINIMAL + "target: dev\ntargets:\n"
            "  dev: {backend: databricks, cluster_id: c1, host: adb-1.azure.net}\n")
    diag = only(write_spec(text))
    assert diag.path == "targets.dev.host"
    assert "https://" in diag.hint


def test_invalid_variable_name(write_spec):
    diag = only(write_spec(MINIMAL + "variables:\n  'a b': 1\n"))
    assert diag.path == 'variables["a b"]'
    assert diag.message == "invalid variable name 'a b'"


# ------------------------------------------------------------------------------ many at once


def test_every_problem_is_reported_at_once(write_spec):
    text = """\
version: 2
name: demo
runz: []
project:
  starter: databricks-irs
repo:
  remote: htps://github.com/me/x.git
target: prod
targets:
  local:
    backend: local
  dev:
    backend: databrick
data:
  - source: ../data
    target: dbfs:/x/../y
runs:
  - name: a
    params: {train_fraction: "${var.tf}"}
  - name: a
    timeout_minutes: "5"
  - name: b
    params:
      cluster: ${env.NOPE}
"""
    diagnostics = problems(write_spec(text))
    assert [(d.line, d.path) for d in diagnostics] == [
        (1, "version"),
        (3, "runz"),
        (4, "project.path"),
        (5, "project.starter"),
        (7, "repo.remote"),
        (8, "target"),
        (13, "targets.dev.backend"),
        (15, "data[0].source"),
        (16, "data[0].target"),
        (19, "runs[0].params.train_fraction"),
        (20, "runs[1].name"),
        (21, "runs[1].timeout_minutes"),
        (24, "runs[2].params.cluster"),
    ]
    assert all(d.hint for d in diagnostics)
    assert all(d.file.endswith("workflow.yaml") and d.column for d in diagnostics)
    rendered = str(SpecError(diagnostics))
    assert rendered.startswith("13 problems in the workflow spec:")


def test_interpolation_errors_are_not_reported_twice(write_spec):
    diag = only(write_spec(MINIMAL + "runs:\n  - name: a\n    timeout_minutes: ${var.t}\n"))
    assert diag.path == "runs[0].timeout_minutes"
    assert diag.message == "unknown variable 't' in '${var.t}'"


def test_loader_errors_stop_before_validation(write_spec):
    diag = only(write_spec(MINIMAL + "runz: 1\nrunz: 2\n"))
    assert diag.message == "duplicate key 'runz'"


def test_model_keeps_its_cross_checks_for_code():
    base = {"version": 1, "name": "x", "project": {"path": "p"}, "repo": {"remote": "r"}}
    with pytest.raises(ValidationError, match="target 'dev' is not defined"):
        Workflow.model_validate({**base, "target": "dev"})
    with pytest.raises(ValidationError, match="run name 'a' is used twice"):
        Workflow.model_validate({**base, "runs": [{"name": "a"}, {"name": "a"}]})


def test_path_argument_accepts_str_and_pathlike(write_spec):
    path = write_spec(MINIMAL)
    assert load_spec(str(path), environ={}).path == load_spec(os.fspath(path), environ={}).path


# ------------------------------------------------------- bad-input corpus findings (fixed)


def test_a_misspelt_required_key_is_reported_once(write_spec):
    path = write_spec(MINIMAL + "data:\n  - sorce: data\n    target: dbfs:/x\n")
    diag = only(path)
    assert diag.path == "data[0].sorce"
    assert diag.hint == "did you mean 'source'?"


def test_a_misspelt_top_level_section_is_reported_once(write_spec):
    path = write_spec(MINIMAL.replace("project:", "projet:"))
    diag = only(path)
    assert (diag.path, diag.hint) == ("projet", "did you mean 'project'?")


def test_a_missing_key_without_a_misspelling_is_still_reported(write_spec):
    path = write_spec(MINIMAL + "data:\n  - target: dbfs:/x\n    other: 1\n")
    paths = {d.path for d in problems(path)}
    assert {"data[0].source", "data[0].other"} <= paths


@pytest.mark.parametrize(
    ("text", "path", "hint"),
    [
        (MINIMAL.replace("repo:\n  remote: ../demo.git", "repo: ../demo.git"), "repo",
         "write `remote: ../demo.git` on the next line, indented"),
        (MINIMAL + "runs:\n  - baseline\n", "runs[0]", "write the item as `- name: baseline`"),
        (MINIMAL + "data:\n  - data\n", "data[0]",
         "write the item as `- source: data`, then `target:` below it"),
        (MINIMAL + "targets:\n  local: local\n", "targets.local",
         "write `backend: local` on the next line, indented"),
        (MINIMAL + "variables:\n  users: [a, b]\n", "variables.users",
         "write a single value here, not a list"),
    ],
)
def test_a_single_value_where_a_section_belongs_gets_a_hint(write_spec, text, path, hint):
    diag = only(write_spec(text))
    assert diag.path == path
    assert diag.hint.startswith(hint), diag.hint


@pytest.mark.parametrize("cached", [False, True])
def test_an_env_variable_only_another_target_reads_may_be_unset(
    write_spec, tmp_path, monkeypatch, cached
):
    monkeypatch.setenv("BRICKSMITH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BRICKSMITH_SPEC_CACHE", "1" if cached else "0")
    path = write_spec(EXAMPLE)  # target: local; targets.dev.cluster_id: ${env.DATABRICKS_...}
    for _ in range(2 if cached else 1):  # the second load is a cache hit
        spec = load_spec(path, environ={}, target="local")
        assert spec.workflow.targets["dev"].cluster_id == "${env.DATABRICKS_CLUSTER_ID}"
        assert load_spec(path, environ={}).workflow.target == "local"  # the default
    with pytest.raises(SpecError) as caught:
        load_spec(path, environ={}, target="dev")
    [diag] = caught.value.diagnostics
    assert diag.path == "targets.dev.cluster_id" and "is not set" in diag.message


def test_databricks_target_needs_a_cluster_or_explicit_serverless(write_spec):
    diag = only(write_spec(MINIMAL + "target: dev\ntargets:\n  dev: {backend: databricks}\n"))
    assert diag.path == "targets.dev"
    assert diag.message == "databricks target 'dev' has no cluster_id"
    assert "cluster_id" in diag.hint and "serverless: true" in diag.hint


def test_serverless_with_a_cluster_is_refused(write_spec):
    text = (MINIMAL + "target: dev\ntargets:\n"
            "  dev: {backend: databricks, cluster_id: c1, serverless: true}\n")
    diag = only(write_spec(text))
    assert diag.path == "targets.dev.serverless"
    assert "both cluster_id and serverless" in diag.message


def test_serverless_refuses_dbfs_data_and_takes_volumes(write_spec):
    head = MINIMAL + "target: dev\ntargets:\n  dev: {backend: databricks, serverless: true}\n"
    diag = only(write_spec(head + "data:\n  - {source: data, target: dbfs:/FileStore/x}\n"))
    assert diag.path == "data[0].target"
    assert "limited DBFS access" in diag.message
    assert "/Volumes/<catalog>/<schema>/<volume>" in diag.hint
    volume = "data:\n  - {source: data, target: /Volumes/c/s/v/x}\n"
    loaded = load_spec(write_spec(head + volume), environ={})
    assert loaded.workflow.targets["dev"].serverless is True
