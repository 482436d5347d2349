from __future__ import annotations

import textwrap

import pytest

from bricksmith.errors import SpecError
from bricksmith.spec.interpolate import interpolate, parse_override, resolve_references
from bricksmith.spec.loader import parse_document


def doc(text: str):
    return parse_document(textwrap.dedent(text).encode(), "w.yaml")


def resolved(text: str, *, env=None, variables=None):
    return interpolate(doc(text), environ=env or {}, variables=variables).data


def problems(text: str, *, env=None, variables=None):
    with pytest.raises(SpecError) as info:
        interpolate(doc(text), environ=env or {}, variables=variables)
    return info.value.diagnostics


# ---------------------------------------------------------------------------------- values


def test_env_reference():
    data = resolved("a: ${env.HOME_DIR}\nb: x-${env.HOME_DIR}-y\n", env={"HOME_DIR": "/h"})
    assert data == {"a": "/h", "b": "x-/h-y"}


def test_env_values_stay_strings():
    assert resolved("n: ${env.N}\n", env={"N": "0123"}) == {"n": "0123"}


def test_whole_var_reference_keeps_the_type():
    data = resolved(
        """
        variables: {tf: 0.7, n: 3, flag: true, s: text}
        f: ${var.tf}
        i: ${var.n}
        b: ${var.flag}
        s: ${var.s}
        """
    )
    assert data["f"] == 0.7 and isinstance(data["f"], float)
    assert data["i"] == 3 and isinstance(data["i"], int)
    assert data["b"] is True
    assert data["s"] == "text"


def test_embedded_references_are_stringified_the_yaml_way():
    data = resolved(
        """
        variables: {tf: 0.7, flag: false, n: 2}
        msg: "tf=${var.tf} on=${var.flag} n=${var.n} ${var.n}${var.n}"
        """
    )
    assert data["msg"] == "tf=0.7 on=false n=2 22"


def test_references_anywhere_in_the_tree_but_not_in_keys():
    data = resolved(
        """
        variables: {x: 1}
        runs:
          - name: a
            params: {"${var.x}": "${var.x}", nested: [{deep: "${var.x}"}]}
        """
    )
    assert data["runs"][0]["params"] == {"${var.x}": 1, "nested": [{"deep": 1}]}


def test_escape_keeps_a_literal_reference():
    data = resolved(
        """
        a: $${runtime_params:data_root}
        b: "cost: $$5 and $${env.X}"
        c: "$${var.x}/${env.Y}"
        """,
        env={"Y": "y"},
    )
    assert data == {
        "a": "${runtime_params:data_root}",
        "b": "cost: $$5 and ${env.X}",
        "c": "${var.x}/y",
    }


def test_substituted_values_are_not_scanned_again():
    data = resolved("a: ${env.A}\n", env={"A": "${env.B}"})
    assert data == {"a": "${env.B}"}


def test_variables_may_use_env():
    data = resolved(
        """
        variables: {cluster: "${env.CLUSTER}"}
        c: ${var.cluster}
        """,
        env={"CLUSTER": "abc"},
    )
    assert data["c"] == "abc"
    assert data["variables"] == {"cluster": "abc"}


def test_non_string_values_untouched():
    assert resolved("a: 1\nb: [true, null]\n") == {"a": 1, "b": [True, None]}


def test_environ_is_only_what_the_caller_passes(monkeypatch):
    monkeypatch.setenv("BRICKSMITH_TEST_ONLY_IN_OS", "x")
    (diag,) = problems("a: ${env.BRICKSMITH_TEST_ONLY_IN_OS}\n", env={})
    assert diag.message == "environment variable BRICKSMITH_TEST_ONLY_IN_OS is not set"


# ------------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    ("raw", "declared", "expected"),
    [
        ("0.7", None, 0.7),
        ("0.7", 0.8, 0.7),
        ("3", None, 3),
        ("-3", 1, -3),
        ("true", None, True),
        ("False", None, False),
        ("text", None, "text"),
        ("", None, ""),
        ("0123", None, "0123"),  # YAML 1.1 would read an octal 83
        ("yes", None, "yes"),  # YAML 1.1 would read true
        ("1_000", None, "1_000"),
        ("[1, 2]", None, "[1, 2]"),
        ("null", None, "null"),
        ("2024-01-01", None, "2024-01-01"),
        ("0.7", "abc", "0.7"),  # declared as text: stays text
        ("42", "abc", "42"),
    ],
)
def test_override_typing(raw, declared, expected):
    value = parse_override(raw, declared)
    assert value == expected
    assert type(value) is type(expected)


def test_var_override_is_a_float():
    data = resolved(
        """
        variables: {tf: 0.8}
        runs: [{name: a, params: {train_fraction: "${var.tf}"}}]
        """,
        variables={"tf": "0.7"},
    )
    assert data["runs"][0]["params"]["train_fraction"] == 0.7
    assert data["variables"] == {"tf": 0.7}


def test_override_may_define_a_variable_the_spec_uses():
    data = resolved("a: ${var.extra}\n", variables={"extra": "5"})
    assert data == {"a": 5, "variables": {"extra": 5}}


def test_override_nobody_uses_is_an_error_with_did_you_mean():
    (diag,) = problems(
        """
        variables: {train_fraction: 0.8}
        a: ${var.train_fraction}
        """,
        variables={"trian_fraction": "0.7"},
    )
    assert diag.message == (
        "--var trian_fraction: the spec neither declares nor uses a variable named "
        "'trian_fraction'"
    )
    assert diag.hint == "did you mean --var train_fraction=...?"
    assert diag.line is None
    assert diag.file == "w.yaml"


def test_override_with_malformed_name():
    (diag,) = problems("a: 1\n", variables={"bad name": "x"})
    assert "'bad name' is not a valid variable name" in diag.message


# ---------------------------------------------------------------------------------- errors


def test_unset_env_is_named_with_position_and_hint():
    (diag,) = problems(
        """
        targets:
          dev:
            cluster_id: ${env.DATABRICKS_CLUSTER_ID}
        """,
        env={"DATABRICKS_CLUSTER": "x"},
    )
    assert diag.message == "environment variable DATABRICKS_CLUSTER_ID is not set"
    assert diag.path == "targets.dev.cluster_id"
    assert (diag.line, diag.column) == (4, 17)
    assert diag.hint.startswith("export DATABRICKS_CLUSTER_ID=")
    assert "did you mean DATABRICKS_CLUSTER" in diag.hint


def test_unknown_var_did_you_mean():
    (diag,) = problems(
        """
        variables: {train_fraction: 0.8}
        runs:
          - name: a
          - name: b
            params: {train_fraction: "${var.trian_fraction}"}
        """
    )
    assert diag.message == "unknown variable 'trian_fraction' in '${var.trian_fraction}'"
    assert diag.path == "runs[1].params.train_fraction"
    assert (diag.line, diag.column) == (6, 30)
    assert diag.hint == "did you mean ${var.train_fraction}?"


def test_unknown_var_without_candidates():
    (diag,) = problems("a: ${var.zzz}\n")
    assert diag.hint == "declare it under variables: or pass --var zzz=VALUE"


def test_unterminated_reference():
    (diag,) = problems("a: 'x ${env.HOME'\n")
    assert diag.message == "unterminated reference '${env.HOME': missing '}'"
    assert "$${" in diag.hint


def test_unknown_namespace_with_did_you_mean():
    (diag,) = problems("a: ${envs.HOME}\n")
    assert diag.message == "unknown namespace 'envs' in '${envs.HOME}'"
    assert diag.hint.startswith("did you mean ${env.HOME}?")


def test_unknown_namespace_mentions_the_escape():
    (diag,) = problems("a: ${runtime_params.x}\n")
    assert "$${" in diag.hint


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${env}", "malformed reference '${env}'"),
        ("${}", "malformed reference '${}'"),
        ("${env.}", "malformed env name '' in '${env.}'"),
        ("${env.1X}", "malformed env name '1X' in '${env.1X}'"),
        ("${env.A-B}", "malformed env name 'A-B' in '${env.A-B}'"),
        ("${var.a b}", "malformed var name 'a b' in '${var.a b}'"),
    ],
)
def test_malformed_references(value, message):
    (diag,) = problems(f"a: '{value}'\n")
    assert diag.message.startswith(message)


def test_variable_cannot_reference_variable():
    (diag,) = problems("variables: {a: 1, b: '${var.a}'}\n")
    assert diag.path == "variables.b"
    assert "cannot refer to another variable" in diag.message


def test_all_errors_are_collected_even_in_one_string():
    diagnostics = problems(
        """
        variables: {tf: 0.7}
        a: "${var.tff} ${env.NOPE} ${foo.X} ${var.tf"
        b: ${env.ALSO_MISSING}
        """
    )
    messages = [d.message for d in diagnostics]
    assert messages == [
        "unknown namespace 'foo' in '${foo.X}'",
        "unterminated reference '${var.tf': missing '}'",
        "unknown variable 'tff' in '${var.tff}'",
        "environment variable NOPE is not set",
        "environment variable ALSO_MISSING is not set",
    ]
    assert [d.path for d in diagnostics] == ["a", "a", "a", "a", "b"]


def test_resolve_references_leaves_failed_strings_as_written():
    data, diagnostics = resolve_references(
        doc("a: x-${env.NOPE}\nb: ${env.YES}\n"), environ={"YES": "y"}
    )
    assert data == {"a": "x-${env.NOPE}", "b": "y"}
    assert len(diagnostics) == 1
