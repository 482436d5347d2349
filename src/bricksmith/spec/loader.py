"""Read a workflow YAML file into plain Python data, remembering where every key and value is.

PyYAML composes the node tree (``yaml.CSafeLoader`` when libyaml is available, else the pure
Python ``SafeLoader``); we build the data ourselves from the nodes so that every key path maps
to a 1-based (line, column). Every problem raises :class:`bricksmith.errors.SpecError`.

The data is JSON-like on purpose (what the JSON schema and the step fingerprints can hold):
mapping keys are strings, timestamps stay strings, ``!!binary``, ``!!set`` and custom tags are
refused. Merge keys (``<<: *anchor``) and aliases work; duplicate keys are an error.

The bytes become text in :mod:`.yaml_text`, the nodes become data in :mod:`.yaml_nodes`;
key paths and positions are :mod:`.positions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bricksmith.errors import Diagnostic, SpecError
from bricksmith.spec.positions import KeyPath, Position, diag, render_path
from bricksmith.spec.yaml_nodes import (
    GENERIC_SYNTAX_HINT,
    Builder,
    is_empty_scalar,
    node_kind,
    node_position,
    syntax_diagnostic,
    too_deep,
)
from bricksmith.spec.yaml_text import MAX_SPEC_BYTES, check_printable, decode, too_big

__all__ = [
    "read_source",
    "Document",
    "load_document",
    "parse_document",
]


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
                [diag(file, "is a directory, not a workflow file",
                      "pass the YAML file itself, e.g. workflow.yaml")]
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(
            [diag(file, "file not found", "check the path (relative to the current folder)")]
        ) from None
    except OSError as exc:
        raise SpecError(
            [diag(file, f"cannot read the file: {exc.strerror or exc}",
                  "check that the file exists and is readable")]
        ) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([too_big(file)])
    return raw


def parse_document(source: bytes | str, file: str = "<string>") -> Document:
    """Parse YAML text (bytes are checked for size, encoding and binary content first)."""
    text = decode(source, file) if isinstance(source, bytes) else source
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([too_big(file)])
    check_printable(text, file)
    try:
        loader = _make_loader(text)
    except yaml.YAMLError as exc:  # pragma: no cover - check_printable catches what it checks
        raise SpecError([diag(file, f"invalid YAML: {exc}", GENERIC_SYNTAX_HINT)]) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise SpecError([syntax_diagnostic(exc, text, file)]) from None
        except RecursionError:  # the pure-Python composer on very deep nesting
            raise SpecError([too_deep(file, 1, 1)]) from None
        except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are not expected
            raise SpecError([diag(file, f"invalid YAML: {exc}", GENERIC_SYNTAX_HINT)]) from None
        if root is None or is_empty_scalar(root):
            raise SpecError(
                [diag(file, "the workflow spec is empty",
                      "start with `version: 1`, `name:`, `project:` and `repo:` "
                      "(see `bricksmith schema`)", line=1, column=1)]
            )
        if not isinstance(root, yaml.MappingNode):
            line, column = node_position(root)
            raise SpecError(
                [diag(file, f"the top level must be a mapping of keys, got {node_kind(root)}",
                      "write `key: value` lines at the top level: version, name, project, "
                      "repo, targets, data, runs", line=line, column=column)]
            )
        builder = Builder(loader, file)
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


def _make_loader(text: str) -> yaml.SafeLoader:
    loader_cls = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    return loader_cls(text)
