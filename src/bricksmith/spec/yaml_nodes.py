"""PyYAML's node tree as plain, JSON-like data with the position of every key and value.

Mapping keys are strings, timestamps stay strings, ``!!binary``, ``!!set`` and custom tags are
refused; merge keys and aliases work; duplicate keys, alias bombs and nesting past
``MAX_DEPTH`` are errors. A syntax error PyYAML raises becomes a diagnostic with a hint.
"""

from __future__ import annotations

from typing import Any

import yaml

from bricksmith.errors import Diagnostic
from bricksmith.spec.positions import KeyPath, Position, diag, render_path

MAX_NODES = 200_000  # guards against alias bombs ("billion laughs") and runaway expansion
MAX_DEPTH = 64  # nesting of mappings/lists; deeper data would exhaust Python's recursion later

_TAG = "tag:yaml.org,2002:"
_MAP_TAG = _TAG + "map"
_SEQ_TAG = _TAG + "seq"
_MERGE_TAG = _TAG + "merge"
_STR_TAG = _TAG + "str"


def too_deep(file: str, line: int, column: int, path: str = "") -> Diagnostic:
    return diag(file, f"the document is nested more than {MAX_DEPTH} levels deep",
                "a workflow spec needs only a few levels of mappings and lists; flatten it",
                line=line, column=column, path=path)


GENERIC_SYNTAX_HINT = "check the YAML near this position: indentation, quotes, brackets and ': '"


def syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    message = f"invalid YAML: {problem}" if problem else "invalid YAML"
    if context:
        message += f" ({context})"
    hint = GENERIC_SYNTAX_HINT
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
        hint = too_deep(file, line, column).hint
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


def is_empty_scalar(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null"


def node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"a single value ({node.value!r})"


def node_position(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _TooBig(Exception):
    pass


class Builder:
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
                diag(self.file, "the document expands to too many values (aliases nested "
                     "inside aliases?)", "use fewer nested anchors/aliases", line=1, column=1)
            )
            return {}

    def _error(self, node: yaml.Node, path: KeyPath, message: str, hint: str | None) -> None:
        line, column = node_position(node)
        self.diagnostics.append(
            diag(self.file, message, hint, line=line, column=column, path=render_path(path))
        )

    def _build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            raise _TooBig
        self.value_positions.setdefault(path, node_position(node))
        if id(node) in self._stack:
            self._error(node, path, "an alias refers to the mapping or list that contains it",
                        "YAML structures in a workflow spec cannot be recursive")
            return None
        if isinstance(node, yaml.CollectionNode) and len(self._stack) >= MAX_DEPTH:
            if not self._too_deep:  # once: every deep branch would repeat it
                self._too_deep = True
                line, column = node_position(node)
                shown = render_path(path[:6]) + ("..." if len(path) > 6 else "")
                self.diagnostics.append(too_deep(self.file, line, column, shown))
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
                    self.key_positions.setdefault(item_path, node_position(item))
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
            self.key_positions[key_path] = node_position(key_node)
            self.value_positions[key_path] = node_position(value_node)
            result[key] = self._build(value_node, key_path)
        return result

    def _key(self, key_node: yaml.Node, path: KeyPath) -> str | None:
        if not isinstance(key_node, yaml.ScalarNode):
            self._error(key_node, path, "a mapping key must be a plain string, not "
                        f"{node_kind(key_node)}", "write keys as plain words")
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
