"""Params that take their value from the environment are refused at validate time: run params
become Databricks job parameters (shown on the run page, recorded in bricksmith's state and
report), project.params are committed to git."""

from __future__ import annotations

import pytest

from bricksmith.errors import SpecError
from bricksmith.spec import load_spec
from bricksmith.spec.interpolate import resolve_with_origins
from bricksmith.spec.loader import parse_document

from .conftest import MINIMAL

ENV = {"RUN_SECRET": "s3cr3t", "HOST": "https://x"}


def refused(path, env=ENV, variables=None):
    with pytest.raises(SpecError) as info:
        load_spec(path, environ=env, variables=variables)
    return info.value.diagnostics


def test_a_run_param_from_the_environment_is_refused_at_its_key(write_spec):
    path = write_spec(MINIMAL + """\
runs:
  - name: baseline
  - name: keyed
    params: {train_fraction: 0.7, api_key: "${env.RUN_SECRET}"}
""")
    [diag] = refused(path)
    assert (diag.line, diag.column, diag.path) == (10, 35, "runs[1].params.api_key")
    assert "environment" in diag.message and "run page" in diag.message
    assert "credentials" in diag.hint and "dbutils.secrets.get" in diag.hint
    assert "s3cr3t" not in diag.render()


def test_through_a_variable_and_nested_and_in_project_params(write_spec):
    path = write_spec("""\
version: 1
name: demo
variables:
  token: "Bearer ${env.RUN_SECRET}"
  plain: 0.7
project:
  path: demo
  params:
    db: {password: "${var.token}"}
    fraction: ${var.plain}
repo:
  remote: ../demo.git
runs:
  - name: a
    params:
      nested: {deep: {key: "x-${var.token}"}}
      ok: ${var.plain}
""")
    diagnostics = {d.path: d for d in refused(path)}
    assert set(diagnostics) == {"project.params.db.password", "runs[0].params.nested.deep.key"}
    assert "committed to git" in diagnostics["project.params.db.password"].message
    assert diagnostics["project.params.db.password"].line == 9


def test_a_variable_overridden_on_the_command_line_is_no_secret(write_spec, tmp_path):
    (tmp_path / "demo").mkdir()
    path = write_spec(MINIMAL.replace("  path: demo\n", "  path: demo\n  params: {x: '${var.v}'}\n")
                      + "variables:\n  v: ${env.RUN_SECRET}\n")
    assert refused(path)[0].path == "project.params.x"
    spec = load_spec(path, environ=ENV, variables={"v": "plain"})
    assert spec.workflow.project.params == {"x": "plain"}


def test_an_unset_variable_in_a_param_is_refused_not_asked_for(write_spec):
    path = write_spec(MINIMAL + "runs:\n  - name: a\n    params: {k: '${env.NOPE}'}\n")
    [diag] = refused(path, env={})
    assert "may not take its value from the environment" in diag.message


def test_origins_are_recorded_only_where_env_was_used():
    document = parse_document(
        "variables: {s: '${env.A}', p: 1}\n"
        "targets: {t: {host: '${env.A}'}}\n"
        "runs: [{params: {a: '${var.s}', b: '${var.p}', c: '$${env.A}'}}]\n"
    )
    resolution = resolve_with_origins(document, environ={"A": "x"})
    assert resolution.env_paths == {("targets", "t", "host"), ("runs", 0, "params", "a")}
    assert resolution.data["runs"][0]["params"] == {"a": "x", "b": 1, "c": "${env.A}"}
