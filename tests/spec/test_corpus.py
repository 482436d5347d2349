"""The bad-input corpus: every malformed spec and bad argument gets a clean error.

Each case goes through the real CLI entry (``bricksmith.cli.main``, in-process) and must give
exit code 1, a message naming ``file:line:col`` and the key path (or the argument), the
expected hint, no traceback — and write nothing: the spec folder and the working folder hold
exactly what they held before.

The cases are data: ``corpus/<case>.yaml`` are the malformed specs (their first line says what
is wrong), ``corpus/_expected.yaml`` the table of what each case must report. Cases made of
bytes that do not belong in a repository (binary, UTF-16, oversized, ...) are built by
``GENERATED`` below from ``corpus/_seed.yaml``, the valid spec the argument cases use too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from bricksmith.cli import main
from bricksmith.spec.yaml_text import MAX_SPEC_BYTES

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = yaml.safe_load((CORPUS / "_expected.yaml").read_text(encoding="utf-8"))
SEED = (CORPUS / "_seed.yaml").read_bytes()
UNSET_ENV = "BRICKSMITH_CORPUS_UNSET"  # the env-unset case refers to it


def _nested(depth: int) -> bytes:
    return SEED.replace(b"train_fraction: 0.8", b"deep: " + b"[" * depth + b"]" * depth, 1)


def _alias_bomb() -> bytes:
    lines = [b'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 8):
        refs = b", ".join([f"*a{i - 1}".encode()] * 10)
        lines.append(f"a{i}: &a{i} [".encode() + refs + b"]")
    return SEED.replace(b"  params:\n", b"  params:\n" + b"".join(
        b"    " + line + b"\n" for line in lines), 1)


# Cases built here rather than checked in (their expectations are in _expected.yaml).
GENERATED: dict[str, Callable[[], bytes]] = {
    "binary-png": lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(32),
    "binary-nul-in-text": lambda: SEED.replace(b"name: iris-databricks", b"name: iris\x00db"),
    "random-bytes": lambda: bytes(range(0x80, 0x100)) * 4,
    "non-utf8-latin1": lambda: SEED.replace(b"someone", "s\u00e9bastien".encode("latin-1")),
    "non-utf8-truncated-sequence": lambda: SEED.replace(b"branch: main", b"branch: \xe2\x82"),
    "utf16-with-bom": lambda: SEED.decode().encode("utf-16"),
    "utf16-le-without-bom": lambda: SEED.decode().encode("utf-16-le"),
    "utf16-be-without-bom": lambda: SEED.decode().encode("utf-16-be"),
    "utf32-with-bom": lambda: SEED.decode().encode("utf-32"),
    "control-character": lambda: SEED.replace(b"name: iris-databricks", b"name: \x1b[1miris"),
    "oversized-comment": lambda: SEED + b"# " + b"x" * MAX_SPEC_BYTES + b"\n",
    "oversized-valid-yaml": lambda: SEED.replace(
        b"train_fraction: 0.8",
        b"train_fraction: 0.8\n" + b"".join(f"    p{i}: {i}\n".encode() for i in range(80_000)),
    ),
    "deep-nesting": lambda: _nested(100),
    "very-deep-nesting": lambda: _nested(2000),
    "alias-bomb": _alias_bomb,
}


@dataclass
class Case:
    name: str
    at: str | None  # "line:column"; None when the problem has no position (oversized file)
    path: str  # key path printed after the position; "" for the whole document
    message: str  # a fragment of the diagnostic's message
    hint: str  # a fragment of its hint
    problems: int = 1  # how many problems the error lists
    args: list[str] = field(default_factory=list)  # extra arguments (e.g. --var)

    def source(self) -> bytes:
        if self.name in GENERATED:
            return GENERATED[self.name]()
        return (CORPUS / f"{self.name}.yaml").read_bytes()


@dataclass
class ArgCase:
    name: str
    argv: list[str]  # "{command}", "{spec}", "{dir}" and "{missing}" are filled in
    message: str
    hint: str
    commands: list[str] = field(default_factory=lambda: ["validate", "plan", "apply"])


SPEC_CASES = [Case(name, **entry) for name, entry in EXPECTED["specs"].items()]
ARG_CASES = [ArgCase(name, **entry) for name, entry in EXPECTED["arguments"].items()]


# ------------------------------------------------------------------------------- helpers


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a digest of its bytes (folders: "dir")."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(capsys, argv: list[str]) -> Result:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse exits (with 1: see cli._Parser)
        code = exc.code
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def assert_clean_failure(result: Result) -> None:
    assert result.code == 1, (result.code, result.out, result.err)
    assert "Traceback" not in result.out + result.err
    assert "Error:" in result.err


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """tmp_path as the working folder, with the spec folder ``specs/`` inside it; no
    variable a case relies on being unset is set."""
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(UNSET_ENV, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


# ------------------------------------------------------------------------------ the table


def test_every_case_file_has_an_expectation_and_every_expectation_a_case():
    files = {p.stem for p in CORPUS.glob("*.yaml") if not p.name.startswith("_")}
    expected = set(EXPECTED["specs"])
    assert files - expected == set(), "case files without an entry in _expected.yaml"
    assert expected - files - set(GENERATED) == set(), "entries without a case file"
    assert set(GENERATED) <= expected
    assert len(SPEC_CASES) + len(ARG_CASES) >= 60


def test_the_seed_is_valid(workdir, capsys):
    (workdir / "specs" / "workflow.yaml").write_bytes(SEED)
    result = run(capsys, ["validate", "specs/workflow.yaml"])
    assert result.code == 0, result.err
    assert "valid" in result.out


def test_checked_in_cases_say_what_is_wrong_on_their_first_line():
    for case in SPEC_CASES:
        if case.name in GENERATED or case.name == "empty":
            continue
        first = case.source().decode("utf-8", "replace").splitlines()[0]
        assert first.startswith("# "), f"{case.name}.yaml: first line should say what is wrong"


# -------------------------------------------------------------------------------- the specs


def check_spec_case(case: Case, command: str, workdir: Path, capsys) -> None:
    spec = workdir / "specs" / f"{case.name}.yaml"
    spec.write_bytes(case.source())
    before = snapshot(workdir)

    result = run(capsys, [command, f"specs/{case.name}.yaml", *case.args])

    assert_clean_failure(result)
    assert snapshot(workdir) == before, "something was written"
    lines = result.err.splitlines()
    count = case.problems
    assert lines[0] == f"Error: {count} problem{'s' if count != 1 else ''} in the workflow spec:"
    where = f"specs/{case.name}.yaml" + (f":{case.at}" if case.at else "")
    prefix = f"{where}: " + (f"{case.path}: " if case.path else "")
    found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    assert found, f"no line starts with {prefix!r}:\n{result.err}"
    line = lines[found[0]]
    assert case.message in line, f"{case.message!r} not in {line!r}"
    hint = lines[found[0] + 1] if found[0] + 1 < len(lines) else ""
    assert hint.startswith("    hint: "), f"no hint after {line!r}"
    assert case.hint in hint, f"{case.hint!r} not in {hint!r}"


@pytest.mark.parametrize("case", SPEC_CASES, ids=lambda c: c.name)
def test_validate_refuses(case, workdir, capsys):
    check_spec_case(case, "validate", workdir, capsys)


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("case", SPEC_CASES[::3], ids=lambda c: c.name)
def test_plan_and_apply_refuse_too(case, command, workdir, capsys):
    check_spec_case(case, command, workdir, capsys)


# ---------------------------------------------------------------------------- the arguments


def _fill(arg: str, command: str) -> str:
    fills = {"{command}": command, "{spec}": "specs/workflow.yaml", "{dir}": "specs",
             "{missing}": "specs/nope.yaml"}
    for placeholder, value in fills.items():
        arg = arg.replace(placeholder, value)
    return arg


@pytest.mark.parametrize(
    ("case", "command"),
    [(case, command) for case in ARG_CASES for command in case.commands],
    ids=lambda value: value.name if isinstance(value, ArgCase) else value,
)
def test_bad_arguments(case, command, workdir, capsys):
    (workdir / "specs" / "workflow.yaml").write_bytes(SEED)
    before = snapshot(workdir)

    result = run(capsys, [_fill(arg, command) for arg in case.argv])

    assert_clean_failure(result)
    assert snapshot(workdir) == before, "something was written"
    message = _fill(case.message, command)
    assert message in result.err, f"{message!r} not in:\n{result.err}"
    hints = [line.strip() for line in result.err.splitlines() if line.strip().startswith("hint: ")]
    assert hints, f"no hint:\n{result.err}"
    assert _fill(case.hint, command) in hints[0]


# ------------------------------------------------------------------------ rendering limits


def test_user_text_that_looks_like_markup_is_printed_as_is(workdir, capsys):
    """Messages quote the spec; "[/x]" in a key must not be taken for console markup (it
    used to raise rich's MarkupError, with a traceback)."""
    spec = workdir / "specs" / "workflow.yaml"
    spec.write_bytes(SEED + b'"[/x]": 1\n"[bold]": 2\n')
    result = run(capsys, ["validate", "specs/workflow.yaml"])
    assert_clean_failure(result)
    assert "unknown key '[/x]'" in result.err
    assert "unknown key '[bold]'" in result.err


def test_status_prints_run_params_that_look_like_markup(workdir, capsys):
    spec = workdir / "specs" / "workflow.yaml"
    spec.write_bytes(SEED.replace(b"{train_fraction: 0.7}", b'{pattern: "[/x] [red]"}'))
    before = snapshot(workdir)
    result = run(capsys, ["status", "specs/workflow.yaml"])
    assert result.code == 0, result.err
    assert "pattern" in result.out and "[/x] [red]" in result.out  # a params column
    assert snapshot(workdir) == before
