"""The spec file's bytes as YAML text: refused when too large, UTF-16/32 encoded, binary, not
UTF-8, or holding a character YAML does not allow, each at its line and column.
"""

from __future__ import annotations

import re

from bricksmith.errors import Diagnostic, SpecError
from bricksmith.spec.positions import Position, diag

MAX_SPEC_BYTES = 1024 * 1024  # 1 MiB: a workflow spec is a page of YAML, never this big
# What YAML forbids in a stream (PyYAML's Reader.NON_PRINTABLE; libyaml refuses the same)
_NON_PRINTABLE = re.compile(
    "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]"
)


def decode(raw: bytes, file: str) -> str:
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([too_big(file)])
    encoding = _wide_encoding(raw)
    if encoding:
        raise SpecError(
            [diag(file, f"the file is {encoding} encoded", "save it as UTF-8", line=1, column=1)]
        )
    nul = raw.find(b"\x00")
    if nul != -1:
        line, column = _offset_position(raw, nul)
        raise SpecError(
            [diag(file, "the file looks binary (it contains NUL bytes), not YAML text",
                  "pass the workflow YAML file", line=line, column=column)]
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _offset_position(raw, exc.start)
        raise SpecError(
            [diag(file, f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                  "save the file as UTF-8", line=line, column=column)]
        ) from None


def _wide_encoding(raw: bytes) -> str | None:
    """UTF-32 or UTF-16, told by the byte order mark or, as YAML does, by the NUL bytes
    around a first ASCII character."""
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    head = raw[:4]
    if len(head) < 4:
        return None
    if head[:3] == b"\x00\x00\x00" or head[1:] == b"\x00\x00\x00":
        return "UTF-32"
    zeros = [byte == 0 for byte in head]
    if zeros in ([False, True, False, True], [True, False, True, False]) and max(head) < 0x80:
        return "UTF-16"
    return None


def check_printable(text: str, file: str) -> None:
    """Refuse the characters YAML does not allow, at their line and column (PyYAML's own
    ReaderError gives only an offset: in bytes from libyaml, in characters otherwise)."""
    bad = _NON_PRINTABLE.search(text)
    if bad is None:
        return
    at = bad.start()
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    code = ord(bad.group())
    hint = "remove it"
    if code < 0x100:
        hint += f'; inside double quotes it can be written as an escape: "\\x{code:02x}"'
    raise SpecError(
        [diag(file, f"the file contains the character U+{code:04X}, which YAML does not "
              "allow", hint, line=line, column=column)]
    )


def _offset_position(raw: bytes, offset: int) -> Position:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return line, column


def too_big(file: str) -> Diagnostic:
    return diag(file, f"the file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB",
                "a workflow spec is a short YAML file; keep data in the project, not the spec")
