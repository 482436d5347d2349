from __future__ import annotations

import pytest
import yaml

from bricksmith.errors import SpecError
from bricksmith.spec import loader, yaml_nodes
from bricksmith.spec.loader import (
    Document,
    load_document,
    parse_document,
)
from bricksmith.spec.positions import render_path
from bricksmith.spec.yaml_text import MAX_SPEC_BYTES

from .conftest import EXAMPLE


@pytest.fixture(params=["c", "python"])
def yaml_impl(request, monkeypatch):
    """Run a test with libyaml's CSafeLoader and with the pure-Python SafeLoader."""
    if request.param == "python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("libyaml is not available")
    return request.param


def problems(source: str | bytes, file: str = "w.yaml"):
    with pytest.raises(SpecError) as info:
        parse_document(source.encode() if isinstance(source, str) else source, file)
    return info.value.diagnostics


def only(source: str | bytes):
    diagnostics = problems(source)
    assert len(diagnostics) == 1, [d.render() for d in diagnostics]
    return diagnostics[0]


# ---------------------------------------------------------------------------- valid documents


def test_example_loads_with_positions(write_spec, yaml_impl):
    path = write_spec(EXAMPLE)
    doc = load_document(path)
    assert isinstance(doc, Document)
    assert doc.file == str(path)
    assert doc.data["name"] == "iris-databricks"
    assert doc.data["runs"][1] == {"name": "split-70", "params": {"train_fraction": 0.7}}
    assert doc.data["targets"]["dev"]["cluster_id"] == "${env.DATABRICKS_CLUSTER_ID}"
    # keys: 1-based line and column of the key
    assert doc.position(("version",)) == (2, 1)
    assert doc.position(("project", "path")) == (7, 3)
    assert doc.position(("targets", "dev", "backend")) == (22, 5)
    # list items: the item's start; flow mappings: their keys
    assert doc.position(("runs", 1)) == (32, 5)
    assert doc.position(("runs", 1, "params", "train_fraction")) == (33, 14)
    # values
    assert doc.value_position(("project", "path")) == (7, 9)
    assert doc.value_position(("version",)) == (2, 10)


def test_position_falls_back_to_nearest_ancestor():
    doc = parse_document(b"project:\n  path: x\nruns:\n  - name: a\n")
    assert doc.position(("project", "missing")) == (1, 1)
    assert doc.position(("runs", 0, "params", "x")) == (4, 5)
    assert doc.position(()) == (1, 1)
    assert doc.value_position(("project", "nope")) == (1, 1)


def test_render_path():
    assert render_path(()) == ""
    assert render_path(("runs", 1, "params", "train_fraction")) == "runs[1].params.train_fraction"
    assert render_path(("targets", "dev", "backend")) == "targets.dev.backend"
    assert render_path(("project", "params", "a.b")) == 'project.params["a.b"]'
    assert render_path(("a b",)) == '["a b"]'


def test_timestamps_stay_text_and_values_keep_yaml_types():
    doc = parse_document(b"d: 2024-01-01\nf: 0.7\ni: 3\nb: true\nn: null\ns: '1'\n")
    assert doc.data == {"d": "2024-01-01", "f": 0.7, "i": 3, "b": True, "n": None, "s": "1"}


def test_utf8_bom_is_accepted():
    doc = parse_document("\ufeffname: café\n".encode())
    assert doc.data == {"name": "café"}


def test_merge_keys_and_aliases():
    doc = parse_document(b"base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nl: *b\n")
    assert doc.data["m"] == {"x": 1, "y": 3}
    assert doc.data["l"] == {"x": 1, "y": 2}
    assert doc.position(("m", "y")) == (4, 3)  # own key wins, position included
    assert doc.position(("m", "x")) == (1, 11)  # merged key: where it is written


def test_merged_key_is_not_a_duplicate():
    doc = parse_document(b"a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n")
    assert doc.data["b"] == {"x": 2}


# ------------------------------------------------------------------------------ YAML errors


def test_duplicate_key_points_at_second(yaml_impl):
    diag = only("version: 1\nproject:\n  path: a\n  path: b\n")
    assert (diag.line, diag.column) == (4, 3)
    assert diag.path == "project.path"
    assert diag.message == "duplicate key 'path'"
    assert "line 3" in diag.hint


def test_all_duplicate_keys_are_reported():
    diagnostics = problems("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [(d.path, d.line) for d in diagnostics] == [("a", 2), ("b.c", 5)]


def test_tab_indentation(yaml_impl):
    diag = only("project:\n\tpath: x\n")
    assert (diag.line, diag.column) == (2, 1)
    assert "tab" in diag.message
    assert "spaces" in diag.hint


def test_unclosed_bracket_names_where_it_opened(yaml_impl):
    diag = only("version: 1\nname: [x\nproject: {}\n")
    assert diag.line == 3
    assert diag.message.startswith("invalid YAML")
    assert "'[' opened at line 2, column 7 is not closed" in diag.hint


def test_unclosed_brace(yaml_impl):
    diag = only("a: {x: 1\n")
    assert "'{' opened at line 1, column 4" in diag.hint


def test_unclosed_quote(yaml_impl):
    diag = only("a: 'x\n")
    assert "quote opened at line 1, column 4 is not closed" in diag.hint


def test_colon_in_plain_value(yaml_impl):
    diag = only("message: a: b\n")
    assert (diag.line, diag.column) == (1, 11)
    assert "quote" in diag.hint


def test_two_documents(yaml_impl):
    diag = only("a: 1\n---\nb: 2\n")
    assert diag.line == 2
    assert "more than one YAML document" in diag.message


def test_undefined_alias(yaml_impl):
    diag = only("a: *nope\n")
    assert (diag.line, diag.column) == (1, 4)
    assert "anchor" in diag.hint


@pytest.mark.parametrize("text", ["", "# just a comment\n", "---\n", "null\n"])
def test_empty_document(text):
    diag = only(text)
    assert diag.message == "the workflow spec is empty"
    assert "version: 1" in diag.hint


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n- b\n", "a list"), ("just text\n", "a single value")]
)
def test_top_level_must_be_a_mapping(text, kind):
    diag = only(text)
    assert kind in diag.message
    assert (diag.line, diag.column) == (1, 1)
    assert "key: value" in diag.hint


def test_non_string_keys_are_refused():
    diagnostics = problems("1: a\nyes: b\nok: c\n")
    assert [(d.line, d.column) for d in diagnostics] == [(1, 1), (2, 1)]
    assert "read as int" in diagnostics[0].message
    assert diagnostics[1].hint == 'quote it: "yes":'
    assert [d.path for d in diagnostics] == ["1", "yes"]


def test_unsupported_tags():
    diagnostics = problems("x: !!binary aGVsbG8=\ny: !custom z\ns: !!set {a, b}\n")
    assert [d.path for d in diagnostics] == ["x", "y", "s"]
    assert "!!binary" in diagnostics[0].message
    assert "!custom" in diagnostics[1].message
    assert "tag:yaml.org,2002:set" in diagnostics[2].message


def test_recursive_alias():
    diag = only("a: &a [*a]\n")
    assert diag.path == "a[0]"
    assert "contains it" in diag.message


def test_alias_bomb_is_refused():
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    diag = only("\n".join(lines) + "\n")
    assert "too many values" in diag.message


# ----------------------------------------------------------------------------- file checks


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_document(tmp_path / "nope.yaml")
    (diag,) = info.value.diagnostics
    assert diag.file == str(tmp_path / "nope.yaml")
    assert diag.message == "file not found"
    assert diag.line is None


def test_directory(tmp_path):
    with pytest.raises(SpecError) as info:
        load_document(tmp_path)
    assert "is a directory" in info.value.diagnostics[0].message


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_bytes(b"version: 1\nname: a\x00b\n")
    with pytest.raises(SpecError) as info:
        load_document(path)
    (diag,) = info.value.diagnostics
    assert "binary" in diag.message
    assert (diag.line, diag.column) == (2, 8)


def test_non_utf8_is_refused_with_position():
    diag = only(b"version: 1\nname: caf\xe9\n")
    assert "not valid UTF-8" in diag.message
    assert "0xe9" in diag.message
    assert (diag.line, diag.column) == (2, 10)
    assert "UTF-8" in diag.hint


def test_utf16_is_refused():
    diag = only("version: 1\n".encode("utf-16"))
    assert "UTF-16" in diag.message


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_bytes(b"# " + b"x" * MAX_SPEC_BYTES + b"\nversion: 1\n")
    with pytest.raises(SpecError) as info:
        load_document(path)
    assert "larger than 1 MiB" in info.value.diagnostics[0].message


def test_file_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "w.yaml"
    body = b"version: 1\n# "
    path.write_bytes(body + b"x" * (MAX_SPEC_BYTES - len(body) - 1) + b"\n")
    assert load_document(path).data == {"version": 1}


def test_spec_error_renders_every_problem():
    with pytest.raises(SpecError) as info:
        parse_document(b"a: 1\na: 2\n", "spec.yaml")
    text = str(info.value)
    assert text.startswith("1 problem in the workflow spec:")
    assert "spec.yaml:2:1: a: duplicate key 'a'" in text
    assert "hint: 'a' is already defined at line 1" in text


def test_loader_uses_libyaml_when_available():
    if hasattr(yaml, "CSafeLoader"):
        loaded = loader._make_loader("a: 1")
        try:
            assert isinstance(loaded, yaml.CSafeLoader)
        finally:
            loaded.dispose()


# ------------------------------------------------------- bad-input corpus findings (fixed)


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\x7f", "\ufffe"])
def test_control_characters_are_refused_at_their_line_and_column(yaml_impl, char):
    # PyYAML gives only an offset (in bytes with libyaml), and the pure-Python reader raised
    # it from the loader's constructor, outside the error handling.
    diag = only(f"version: 1\nname: éé{char}x\n".encode())
    assert (diag.line, diag.column) == (2, 9)
    assert f"U+{ord(char):04X}" in diag.message
    assert diag.hint.startswith("remove it")


def test_control_character_in_text_input(yaml_impl):
    with pytest.raises(SpecError) as info:
        parse_document("a: 1\nb: \x1b\n", "w.yaml")
    assert (info.value.diagnostics[0].line, info.value.diagnostics[0].column) == (2, 4)


@pytest.mark.parametrize("depth", [100, 3000])
def test_deep_nesting_is_refused_before_it_exhausts_the_stack(yaml_impl, depth):
    diag = only("a: " + "[" * depth + "]" * depth + "\n")
    assert "nested" in diag.message or "nesting depth" in diag.message
    assert "flatten" in diag.hint or "levels" in diag.hint


def test_nesting_up_to_the_limit_loads():
    depth = yaml_nodes.MAX_DEPTH - 1  # the document's own mapping is one level
    doc = parse_document(("a: " + "[" * depth + "]" * depth + "\n").encode(), "w.yaml")
    assert isinstance(doc.data["a"], list)


def test_deep_nesting_is_reported_once():
    deep = "[" * 80 + "]" * 80
    assert len(problems(f"a: {deep}\nb: {deep}\n")) == 1


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32"),
     ("utf-32-le", "UTF-32"), ("utf-32-be", "UTF-32")],
)
def test_wide_encodings_without_or_with_a_bom(encoding, name):
    diag = only("version: 1\n".encode(encoding))
    assert diag.message == f"the file is {name} encoded"
    assert diag.hint == "save it as UTF-8"
