"""Read a workflow YAML file into plain Python data, remembering where every key and value is.

PyYAML composes the node tree (``yaml.CSafeLoader`` when libyaml is available, else the pure
Python ``SafeLoader``); we build the data ourselves from the nodes so that every key path maps
to a 1-based (line, column). Every problem raises :class:`bricksmith.errors.SpecError`.

The data is JSON-like on purpose (what the JSON schema and the step fingerprints can hold):
mapping keys are strings, timestamps stay strings, ``!!binary``, ``!!set`` and custom tags are
refused. Merge keys (``<<: *anchor``) and aliases work; duplicate keys are an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bricksmith.errors import Diagnostic, SpecError

__all__ = [
    "MAX_SPEC_BYTES",
    "read_source",
    "Document",
    "KeyPath",
    "Position",
    "load_document",
    "parse_document",
    "render_path",
]

MAX_SPEC_BYTES = 1024 * 1024  # 1 MiB: a workflow spec is a page of YAML, never this big
_MAX_NODES = 200_000  # guards against alias bombs ("billion laughs") and runaway expansion
_MAX_DEPTH = 64  # nesting of mappings/lists; deeper data would exhaust Python's recursion later
# What YAML forbids in a stream (PyYAML's Reader.NON_PRINTABLE; libyaml refuses the same)
_NON_PRINTABLE = re.compile(
    "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]"
)

KeyPath = tuple[str | int, ...]
Position = tuple[int, int]  # (line, column), both 1-based

_TAG = "tag:yaml.org,2002:"
_MAP_TAG = _TAG + "map"
_SEQ_TAG = _TAG + "seq"
_MERGE_TAG = _TAG + "merge"
_STR_TAG = _TAG + "str"
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def render_path(path: Iterable[str | int]) -> str:
    """Render a key path the way users write it: ``runs[1].params.train_fraction``.

    Keys that are not plain words are quoted: ``targets["my target"]``. The document is ``""``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


@dataclass(frozen=True)
class Document:
    """A parsed YAML document: plain data plus the position of every key and value.

    ``file`` is the path as given (for messages). Positions are 1-based (line, column).
    """

    file: str
    data: dict[str, Any]
    key_positions: dict[KeyPath, Position] = field(default_factory=dict, repr=False)
    value_positions: dict[KeyPath, Position] = field(default_factory=dict, repr=False)

    def position(self, path: Iterable[str | int]) -> Position | None:
        """Where the entry at ``path`` is: the key of a mapping entry, the start of a list item.

        Falls back to the nearest ancestor with a known position (a missing key is reported
        at the mapping that should hold it).
        """
        path = tuple(path)
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            found = self.key_positions.get(prefix) or self.value_positions.get(prefix)
            if found is not None:
                return found
        return None

    def value_position(self, path: Iterable[str | int]) -> Position | None:
        """Where the value at ``path`` starts (after ``key:``); else like :meth:`position`."""
        path = tuple(path)
        found = self.value_positions.get(path)
        return found if found is not None else self.position(path)

    def diagnostic(
        self,
        path: Iterable[str | int],
        message: str,
        hint: str | None = None,
        *,
        at_value: bool = False,
        at: Iterable[str | int] | None = None,
    ) -> Diagnostic:
        """A :class:`Diagnostic` for ``path``, located at its key (or value, or at ``at``)."""
        path = tuple(path)
        where = tuple(at) if at is not None else path
        pos = self.value_position(where) if at_value else self.position(where)
        line, column = pos if pos is not None else (None, None)
        return Diagnostic(
            file=self.file,
            line=line,
            column=column,
            path=render_path(path),
            message=message,
            hint=hint,
        )


def load_document(path: Path) -> Document:
    """Read and parse the workflow file at ``path``. Raises :class:`SpecError` on any problem."""
    return parse_document(read_source(path), str(path))


def read_source(path: Path) -> bytes:
    """The bytes of the workflow file at ``path`` (refused when missing, unreadable or too
    large). Raises :class:`SpecError`."""
    path = Path(path)
    file = str(path)
    try:
        if path.is_dir():
            raise SpecError(
                [_diag(file, "is a directory, not a workflow file",
                       "pass the YAML file itself, e.g. workflow.yaml")]
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(
            [_diag(file, "file not found", "check the path (relative to the current folder)")]
        ) from None
    except OSError as exc:
        raise SpecError(
            [_diag(file, f"cannot read the file: {exc.strerror or exc}",
                   "check that the file exists and is readable")]
        ) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([_too_big(file)])
    return raw


def parse_document(source: bytes | str, file: str = "<string>") -> Document:
    """Parse YAML text (bytes are checked for size, encoding and binary content first)."""
    text = _decode(source, file) if isinstance(source, bytes) else source
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([_too_big(file)])
    _check_printable(text, file)
    try:
        loader = _make_loader(text)
    except yaml.YAMLError as exc:  # pragma: no cover - _check_printable catches what it checks
        raise SpecError([_diag(file, f"invalid YAML: {exc}", _GENERIC_SYNTAX_HINT)]) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise SpecError([_syntax_diagnostic(exc, text, file)]) from None
        except RecursionError:  # the pure-Python composer on very deep nesting
            raise SpecError([_too_deep(file, 1, 1)]) from None
        except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are not expected
            raise SpecError([_diag(file, f"invalid YAML: {exc}", _GENERIC_SYNTAX_HINT)]) from None
        if root is None or _is_empty_scalar(root):
            raise SpecError(
                [_diag(file, "the workflow spec is empty",
                       "start with `version: 1`, `name:`, `project:` and `repo:` "
                       "(see `bricksmith schema`)", line=1, column=1)]
            )
        if not isinstance(root, yaml.MappingNode):
            line, column = _mark(root)
            raise SpecError(
                [_diag(file, f"the top level must be a mapping of keys, got {_node_kind(root)}",
                       "write `key: value` lines at the top level: version, name, project, "
                       "repo, targets, data, runs", line=line, column=column)]
            )
        builder = _Builder(loader, file)
        data = builder.build(root, ())
    finally:
        loader.dispose()
    if builder.diagnostics:
        raise SpecError(builder.diagnostics)
    return Document(
        file=file,
        data=data,
        key_positions=builder.key_positions,
        value_positions=builder.value_positions,
    )


# ------------------------------------------------------------------------------------ decoding


def _decode(raw: bytes, file: str) -> str:
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([_too_big(file)])
    encoding = _wide_encoding(raw)
    if encoding:
        raise SpecError(
            [_diag(file, f"the file is {encoding} encoded", "save it as UTF-8", line=1, column=1)]
        )
    nul = raw.find(b"\x00")
    if nul != -1:
        line, column = _offset_position(raw, nul)
        raise SpecError(
            [_diag(file, "the file looks binary (it contains NUL bytes), not YAML text",
                   "pass the workflow YAML file", line=line, column=column)]
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _offset_position(raw, exc.start)
        raise SpecError(
            [_diag(file, f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
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


def _check_printable(text: str, file: str) -> None:
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
        [_diag(file, f"the file contains the character U+{code:04X}, which YAML does not "
               "allow", hint, line=line, column=column)]
    )


def _offset_position(raw: bytes, offset: int) -> Position:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return line, column


def _too_deep(file: str, line: int, column: int, path: str = "") -> Diagnostic:
    return _diag(file, f"the document is nested more than {_MAX_DEPTH} levels deep",
                 "a workflow spec needs only a few levels of mappings and lists; flatten it",
                 line=line, column=column, path=path)


def _too_big(file: str) -> Diagnostic:
    return _diag(file, f"the file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB",
                 "a workflow spec is a short YAML file; keep data in the project, not the spec")


# ------------------------------------------------------------------------------------- parsing


def _make_loader(text: str) -> yaml.SafeLoader:
    loader_cls = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    return loader_cls(text)


_GENERIC_SYNTAX_HINT = "check the YAML near this position: indentation, quotes, brackets and ': '"


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    message = f"invalid YAML: {problem}" if problem else "invalid YAML"
    if context:
        message += f" ({context})"
    hint = _GENERIC_SYNTAX_HINT
    char = _char_at(text, mark)
    opened = exc.context_mark
    opened_at = f"line {opened.line + 1}, column {opened.column + 1}" if opened else "above"
    if char == "\t" or "'\\t'" in problem:
        message = "invalid YAML: a tab character is used for indentation"
        hint = "YAML indentation must use spaces, not tabs; replace the tab with spaces"
    elif "flow sequence" in context:
        hint = f"the '[' opened at {opened_at} is not closed, or a ',' is missing"
    elif "flow mapping" in context:
        hint = f"the '{{' opened at {opened_at} is not closed, or a ',' is missing"
    elif "quoted scalar" in context:
        hint = f"the quote opened at {opened_at} is not closed"
    elif "mapping values are not allowed" in problem:
        hint = ("quote values that contain ': ' (e.g. message: \"a: b\"), "
                "or fix the indentation of this line")
    elif "expected a single document" in context:
        message = "the file holds more than one YAML document ('---')"
        hint = "keep one workflow per file; remove the second '---' and what follows it"
    elif "nesting depth" in problem:
        message = f"invalid YAML: {problem}"
        hint = _too_deep(file, line, column).hint
    elif "undefined alias" in problem:
        hint = "define the anchor (&name) before using the alias (*name)"
    elif "block" in context and "expected" in problem:
        hint = "this line's indentation does not match its neighbours (a list item mixed " \
               "with keys at the same level?)"
    return Diagnostic(file=file, line=line, column=column, path="", message=message, hint=hint)


def _char_at(text: str, mark: Any) -> str | None:
    if mark is None:
        return None
    lines = text.splitlines()
    if 0 <= mark.line < len(lines) and 0 <= mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return None


def _is_empty_scalar(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null"


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"a single value ({node.value!r})"


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _diag(
    file: str,
    message: str,
    hint: str | None,
    *,
    line: int | None = None,
    column: int | None = None,
    path: str = "",
) -> Diagnostic:
    return Diagnostic(file=file, line=line, column=column, path=path, message=message, hint=hint)


class _TooBig(Exception):
    pass


class _Builder:
    """Builds plain data from a composed node tree, recording positions and collecting errors."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.key_positions: dict[KeyPath, Position] = {}
        self.value_positions: dict[KeyPath, Position] = {}
        self.diagnostics: list[Diagnostic] = []
        self._count = 0
        self._stack: set[int] = set()  # the mappings and lists being built: the nesting
        self._too_deep = False

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        try:
            return self._build(node, path)
        except _TooBig:
            self.diagnostics.append(
                _diag(self.file, "the document expands to too many values (aliases nested "
                      "inside aliases?)", "use fewer nested anchors/aliases", line=1, column=1)
            )
            return {}

    def _error(self, node: yaml.Node, path: KeyPath, message: str, hint: str | None) -> None:
        line, column = _mark(node)
        self.diagnostics.append(
            _diag(self.file, message, hint, line=line, column=column, path=render_path(path))
        )

    def _build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._count += 1
        if self._count > _MAX_NODES:
            raise _TooBig
        self.value_positions.setdefault(path, _mark(node))
        if id(node) in self._stack:
            self._error(node, path, "an alias refers to the mapping or list that contains it",
                        "YAML structures in a workflow spec cannot be recursive")
            return None
        if isinstance(node, yaml.CollectionNode) and len(self._stack) >= _MAX_DEPTH:
            if not self._too_deep:  # once: every deep branch would repeat it
                self._too_deep = True
                line, column = _mark(node)
                shown = render_path(path[:6]) + ("..." if len(path) > 6 else "")
                self.diagnostics.append(_too_deep(self.file, line, column, shown))
            return None
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                self._error(node, path, f"unsupported YAML tag {node.tag!r}",
                            "use a plain mapping; tags are not supported in a workflow spec")
                return None
            self._stack.add(id(node))
            try:
                return self._mapping(node, path)
            finally:
                self._stack.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self._error(node, path, f"unsupported YAML tag {node.tag!r}",
                            "use a plain list; tags are not supported in a workflow spec")
                return None
            self._stack.add(id(node))
            try:
                items = []
                for index, item in enumerate(node.value):
                    item_path = (*path, index)
                    self.key_positions.setdefault(item_path, _mark(item))
                    items.append(self._build(item, item_path))
                return items
            finally:
                self._stack.discard(id(node))
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        if node.tag == _STR_TAG:
            return node.value  # what the constructor would return, without its machinery
        if node.tag == _TAG + "timestamp":
            return node.value  # keep dates as written: the data stays JSON-like
        if node.tag == _TAG + "binary":
            self._error(node, path, "binary values (!!binary) are not supported",
                        "put binary files in the project, not in the spec")
            return None
        try:
            return self.loader.construct_object(node)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self._error(node, path, f"cannot read this value: {problem}",
                        "remove the YAML tag (!...) or quote the value")
            return None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges = [(k, v) for k, v in node.value if k.tag == _MERGE_TAG]
        own = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        # Merge keys first: the mapping's own keys override merged ones (YAML merge semantics),
        # positions included. Among merged mappings, earlier ones win.
        for _key_node, value_node in merges:
            if isinstance(value_node, yaml.SequenceNode):
                sources = value_node.value
            else:
                sources = [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self._error(source, path, "a merge key (<<) needs a mapping or a list of "
                                "mappings", "merge an anchored mapping: <<: *defaults")
                    continue
                merged = self._build(source, path)
                if isinstance(merged, dict):
                    for key, value in merged.items():
                        result.setdefault(key, value)
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in own:
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in seen:
                first_line = seen[key].start_mark.line + 1
                self._error(key_node, (*path, key), f"duplicate key {key!r}",
                            f"{key!r} is already defined at line {first_line}; keep only one")
                continue
            seen[key] = key_node
            key_path = (*path, key)
            self.key_positions[key_path] = _mark(key_node)
            self.value_positions[key_path] = _mark(value_node)
            result[key] = self._build(value_node, key_path)
        return result

    def _key(self, key_node: yaml.Node, path: KeyPath) -> str | None:
        if not isinstance(key_node, yaml.ScalarNode):
            self._error(key_node, path, "a mapping key must be a plain string, not "
                        f"{_node_kind(key_node)}", "write keys as plain words")
            return None
        if key_node.tag == _STR_TAG:
            return key_node.value
        value = self._scalar(key_node, path)
        if isinstance(value, str):
            return value
        self._error(key_node, (*path, key_node.value), f"the key {key_node.value!r} is read as "
                    f"{type(value).__name__ if value is not None else 'null'}, not as text",
                    f"quote it: \"{key_node.value}\":")
        return None
