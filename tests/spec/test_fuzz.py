"""Property tests of the spec loader and validator: whatever the input, the outcome is a
validated workflow or a :class:`BricksmithError` — never another exception, never a traceback
from the CLI, never a file written.

Inputs: any bytes; YAML-ish text (YAML's punctuation and keywords); the seed spec's text with
characters inserted, deleted and replaced; the seed spec's data with values replaced by any
JSON-like value, keys dropped, unknown keys added; ``--var`` and environments of any shape.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from bricksmith.cli import main
from bricksmith.errors import BricksmithError, SpecError
from bricksmith.spec import LoadedSpec, load_spec
from bricksmith.spec.loader import Document, parse_document

ROOT = Path(__file__).resolve().parents[2]
SEED_TEXT = (ROOT / "specs" / "iris.yaml").read_text(encoding="utf-8")
SEED = yaml.safe_load(SEED_TEXT)
ENVIRON = {"HOME": "/home/someone", "DATABRICKS_CLUSTER_ID": "0123-456789-abcdef"}

# BRICKSMITH_FUZZ_EXAMPLES=5000 digs deeper (the default keeps the file under ~30 s)
EXAMPLES = int(os.environ.get("BRICKSMITH_FUZZ_EXAMPLES", "300"))
FAST = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SLOWER = settings(  # each example goes through the whole validator (and the CLI)
    max_examples=max(1, EXAMPLES * 2 // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@contextlib.contextmanager
def spec_folder() -> Iterator[Path]:
    """A fresh folder per example (hypothesis does not reset pytest's tmp_path)."""
    folder = Path(tempfile.mkdtemp(prefix="bricksmith-fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def listing(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def load_or_refuse(path: Path, **kw: Any) -> LoadedSpec | None:
    """load_spec: a LoadedSpec, or None when it raised a BricksmithError with something to say."""
    try:
        spec = load_spec(path, environ=kw.pop("environ", ENVIRON), **kw)
    except SpecError as exc:
        assert exc.diagnostics, "a SpecError must carry at least one diagnostic"
        for diag in exc.diagnostics:
            assert diag.message and diag.file == str(path)
        event("refused")
        return None
    except BricksmithError as exc:
        assert exc.message
        event("refused")
        return None
    event("valid")
    return spec


def run_cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text, text
    assert code in (0, 1), (code, text)
    if code == 1:
        assert "Error:" in err.getvalue(), text
    return code, text


# ------------------------------------------------------------------------------------ bytes


@FAST
@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_raise_a_spec_error(raw):
    try:
        document = parse_document(raw, "fuzz.yaml")
    except SpecError as exc:
        assert exc.diagnostics
        return
    assert isinstance(document, Document)
    assert isinstance(document.data, dict)


@FAST
@given(st.binary(max_size=512).map(lambda b: b"version: 1\nname: " + b))
def test_bytes_after_a_valid_start_parse_or_raise_a_spec_error(raw):
    with contextlib.suppress(SpecError):
        parse_document(raw, "fuzz.yaml")


# -------------------------------------------------------------------------------- YAML-ish


YAML_ALPHABET = st.sampled_from(
    list("abcxyz019 \t\n:-?,[]{}#&*!|>'\"%@`$.\\/~=<")
    + ["\r\n", "  ", "    ", "- ", ": ", "${", "}", "$${", "${env.", "${var.", "<<: ", "&a ",
       "*a", "!!str ", "!!binary ", "!!set ", "!!python/name:os.system ", "---\n", "...\n",
       "\ufeff", "é", "\u2028", "\x85", "\x00", "\x07", "\ud7ff", "\U0001f600", "null", "~",
       "true", "yes", "0x1F", "1e3", ".nan", ".inf", "2024-01-01", "version", "name",
       "project", "repo", "targets", "runs", "data", "variables", "backend"]
)
yamlish = st.lists(YAML_ALPHABET, max_size=80).map("".join)


@FAST
@given(yamlish)
def test_yamlish_text_parses_or_raises_a_spec_error(text):
    try:
        parse_document(text.encode("utf-8", "surrogatepass"), "fuzz.yaml")
    except SpecError as exc:
        assert exc.diagnostics


@st.composite
def mutated_seed_text(draw) -> str:
    """The seed spec's text with a few characters inserted, deleted or replaced."""
    text = SEED_TEXT
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(YAML_ALPHABET)
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)):]
        else:
            text = text[:at] + piece + text[at + len(piece):]
    return text


@SLOWER
@given(mutated_seed_text())
def test_mutated_seed_text_validates_or_raises(text):
    with spec_folder() as folder:
        path = folder / "workflow.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        before = listing(folder)
        load_or_refuse(path)
        assert listing(folder) == before


# ------------------------------------------------------------------- JSON-like documents


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "..", "../x", "/abs", "~/x", "a/b", "${env.NOPE}", "${var.x}",
                       "${", "$${x}", "${foo.X}", "dbfs:/", "dbfs:/a/../b", "/Volumes/c",
                       "https://", "https://x", "git@github.com:me/x.git", "local",
                       "databricks", "data", "main", "-x", "x" * 70, "1", "0.5"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12) | st.sampled_from(list(SEED)), inner, max_size=4),
    max_leaves=12,
)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path inside ``data`` (the root included)."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out.extend(_paths(value, (*prefix, index)))
    return out


@st.composite
def mutated_seed(draw) -> Any:
    """The seed spec's data with a few values replaced, keys dropped or unknown keys added."""
    data: Any = copy.deepcopy(SEED)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(data)))
        op = draw(st.sampled_from(["replace", "drop", "add"]))
        if not path:
            if op == "replace" and draw(st.booleans()):
                data = draw(json_values)
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if op == "replace":
            parent[last] = draw(json_values)
        elif op == "drop":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@SLOWER
@given(mutated_seed())
def test_mutated_seed_document_validates_or_raises(data):
    with spec_folder() as folder:
        path = folder / "workflow.yaml"
        path.write_text(dump(data), encoding="utf-8")
        before = listing(folder)
        spec = load_or_refuse(path)
        assert listing(folder) == before
    if spec is not None:  # what validated is the seed's shape, with valid values
        assert spec.workflow.version == 1
        assert spec.workflow.target in spec.workflow.targets


@SLOWER
@given(
    mutated_seed(),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2)
    | st.just({}),
)
def test_cli_validate_never_prints_a_traceback_nor_writes(data, variables):
    assume(all("\x00" not in k + v for k, v in variables.items()))
    with spec_folder() as folder:
        path = folder / "workflow.yaml"
        path.write_text(dump(data), encoding="utf-8")
        before = listing(folder)
        argv = ["validate", str(path), "--no-color"]
        for name, value in variables.items():
            argv += ["--var", f"{name}={value}"]
        code, text = run_cli(*argv)
        assert listing(folder) == before
    event(f"exit {code}")
    if code == 0:
        assert "valid" in text


@SLOWER
@given(
    st.dictionaries(
        st.sampled_from(["github_user", "x", "tf", "1bad", "", "a-b", "é"]),
        st.text(max_size=8),
        max_size=3,
    ),
    st.dictionaries(st.sampled_from(["DATABRICKS_CLUSTER_ID", "HOME", "X"]),
                    st.text(max_size=8), max_size=3),
)
def test_variables_and_environment_of_any_shape(variables, environ):
    with spec_folder() as folder:
        path = folder / "workflow.yaml"
        path.write_text((ROOT / "specs" / "iris-databricks.yaml").read_text(encoding="utf-8"),
                        encoding="utf-8")
        load_or_refuse(path, variables=variables, environ=environ)


@settings(deadline=None, max_examples=20)
@given(st.sampled_from([math.nan, math.inf, -math.inf, 2**80, -(2**80), 1e-300, -0.0]))
def test_extreme_numbers_in_the_seed(value):
    data = copy.deepcopy(SEED)
    data["project"]["params"]["train_fraction"] = value
    data["runs"][0]["timeout_minutes"] = value
    with spec_folder() as folder:
        path = folder / "workflow.yaml"
        path.write_text(dump(data), encoding="utf-8")
        load_or_refuse(path)
        run_cli("validate", str(path))


@FAST
@given(mutated_seed())
def test_what_the_strict_models_accept_the_schema_accepts(data):
    """The validator asks the JSON schema only when the models refuse a spec: sound only if
    the models never accept what the schema (generated from them) would refuse."""
    from jsonschema import Draft202012Validator
    from pydantic import ValidationError

    from bricksmith.spec.models import Workflow
    from bricksmith.spec.schema import json_schema

    try:
        Workflow.model_validate(data)
    except ValidationError:
        event("refused by the models")
        return
    event("accepted by the models")
    errors = [e.message for e in Draft202012Validator(json_schema()).iter_errors(data)]
    assert errors == []
