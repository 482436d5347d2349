"""One Kedro parameters file, edited in place: comments, order, quoting and non-ASCII kept.

ruamel.yaml's round-trip mode loads the file with its comments and layout; bricksmith changes
only the key paths it sets (nested mappings merged key by key, never replaced whole) and writes
the file atomically (``bricksmith.atomic``: a temporary file beside it, fsync'ed, renamed), so
a failure (a full disk) leaves the old file whole. Indentation is taken from the file itself.
A ``.json`` parameters file is rewritten as JSON (Kedro reads both).

Each change returns what it replaced (a :class:`Change`): the shallowest key path that changed
and its value before (or :data:`ABSENT`), so that applying the changes' ``restore`` in reverse
order gives back the file's data as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from bricksmith.errors import ProjectConfError

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()
KeyPath = tuple[str, ...]


class Change(NamedTuple):
    """``at`` (a prefix of the key path set) held ``before`` (plain data, or ABSENT)."""

    at: KeyPath
    before: Any


class ParametersFile:
    """A parameters file loaded round-trip. ``original`` is its text (None: no file yet)."""

    def __init__(self, path: Path, original: str | None, data: Any, yaml: Any) -> None:
        self.path = path
        self.original = original
        self.data = data
        self._yaml = yaml
        self._comments_only = not data

    @classmethod
    def load(cls, path: str | Path) -> ParametersFile:
        """Read ``path`` (a missing file is an empty mapping). Raises
        :class:`ProjectConfError` when it is not YAML or not a mapping."""
        from ruamel.yaml.comments import CommentedMap
        from ruamel.yaml.error import YAMLError

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectConfError(f"{path} cannot be read: {exc}") from None
        yaml = _round_trip()
        try:
            data = yaml.load(text) if text else None
        except YAMLError as exc:
            raise ProjectConfError(
                f"{path} is not valid YAML: {' '.join(str(exc).split())}",
                hint="fix the file or restore it from git",
            ) from None
        if data is None:
            data = CommentedMap()
        elif not isinstance(data, Mapping):
            raise ProjectConfError(
                f"{path} must hold a mapping of parameters, not a {type(data).__name__}",
                hint="Kedro parameters files are `name: value` mappings",
            )
        if text:
            _indent_like(yaml, data)
        return cls(path, text, data, yaml)

    def depth(self, key_path: Sequence[str]) -> int:
        """How many leading keys of ``key_path`` this file defines (0: not even the first)."""
        node, depth = self.data, 0
        for key in key_path:
            if not isinstance(node, Mapping) or key not in node:
                break
            node, depth = node[key], depth + 1
        return depth

    def get(self, key_path: Sequence[str]) -> Any:
        """The plain value at ``key_path``, or ABSENT."""
        node: Any = self.data
        for key in key_path:
            if not isinstance(node, Mapping) or key not in node:
                return ABSENT
            node = node[key]
        return plain(node)

    def set(self, key_path: Sequence[str], value: Any) -> Change:
        """Make ``key_path`` hold ``value``, creating the mappings on the way (a non-mapping
        on the way is replaced). An empty mapping merges nothing into an existing one."""
        key_path = tuple(key_path)
        node = self.data
        for index, key in enumerate(key_path[:-1]):
            child = node.get(key, ABSENT)
            if not isinstance(child, Mapping):
                node[key] = _nested(key_path[index + 1:], value)
                return Change(key_path[: index + 1], plain(child))
            node = child
        last = key_path[-1]
        before = plain(node.get(last, ABSENT))
        if isinstance(value, Mapping) and not value and isinstance(before, Mapping):
            return Change(key_path, before)
        if not same(before, value):
            node[last] = _fresh(value)
        return Change(key_path, before)

    def restore(self, change: Change | Sequence[Any]) -> None:
        """Undo one :class:`Change`: put ``before`` back at ``at`` (or remove ``at``)."""
        at, before = tuple(change[0]), change[1]
        if before is ABSENT:
            parent: Any = self.data
            for key in at[:-1]:
                if not isinstance(parent, Mapping) or key not in parent:
                    return
                parent = parent[key]
            if isinstance(parent, Mapping) and at[-1] in parent:
                del parent[at[-1]]
            return
        if not same(self.get(at), before):
            self.set(at, before)

    def text(self) -> str:
        """The file's new text."""
        if self.path.suffix == ".json":
            return json.dumps(plain(self.data), indent=2, ensure_ascii=False) + "\n"
        if not self.data and self.original is not None:
            return self.original  # only comments (or nothing): kept as they are
        out = io.StringIO()
        self._yaml.dump(self.data, out)
        text = out.getvalue()
        if self.original and self._comments_only:
            text = self.original.rstrip("\n") + "\n" + text  # a comments-only file grew keys
        return text

    @property
    def changed(self) -> bool:
        return self.text() != self.original

    def save(self) -> bool:
        """Write the new text when it differs (atomically); True when written. Raises
        :class:`ProjectConfError` rather than write text that does not read back as the
        data, and OSError (ENOSPC...) leaving the old file whole."""
        import yaml as pyyaml

        from bricksmith.atomic import write_text_atomically

        text = self.text()
        if text == self.original:
            return False
        try:
            faithful = same(pyyaml.safe_load(text) or {}, plain(self.data))
        except pyyaml.YAMLError:
            faithful = False
        if not faithful:
            raise ProjectConfError(
                f"bricksmith could not write {self.path} faithfully; it is left as it was",
                hint="report this; meanwhile set the parameters in that file by hand",
            )
        write_text_atomically(self.path, text, create_folder=True)
        self.original = text
        return True


def plain(value: Any) -> Any:
    """ruamel's round-trip types as plain Python: dict, list, str, int, float, bool, None."""
    if value is ABSENT or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    for kind in (str, int, float):  # ScalarString, ScalarInt, ScalarFloat are subclasses
        if isinstance(value, kind):
            return kind(value)
    if hasattr(value, "isoformat"):  # a YAML timestamp
        return value.isoformat()
    return value


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1, 1.0 and True differ, as for Kedro)."""
    a, b = plain(a), plain(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _nested(key_path: Sequence[str], value: Any) -> Any:
    for key in reversed(key_path):
        value = {key: value}
    return _fresh(value)


def _fresh(value: Any) -> Any:
    """A copy of plain spec data for the document (never shared with the spec's objects)."""
    return json.loads(json.dumps(value))


def _round_trip():
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 1 << 31  # never re-wrap a long line
    yaml.allow_unicode = True
    return yaml


def _indent_like(yaml: Any, data: Any) -> None:
    """Indent new and re-dumped blocks as the file does: the first nested mapping gives the
    mapping indent, the first block sequence the dash's offset and the items' indent."""
    mapping = sequence = offset = None
    pending = [data]
    while pending and (mapping is None or sequence is None):
        node = pending.pop(0)
        if not isinstance(node, Mapping) or not hasattr(node, "lc"):
            continue
        for key, value in node.items():
            try:
                key_column = node.lc.key(key)[1]
            except (KeyError, TypeError, AttributeError):
                continue
            flow = getattr(getattr(value, "fa", None), "flow_style", lambda: False)()
            if isinstance(value, Mapping) and value and not flow and mapping is None:
                first = next(iter(value))
                with contextlib.suppress(KeyError, TypeError, AttributeError):
                    mapping = value.lc.key(first)[1] - key_column
            elif isinstance(value, list) and value and not flow and sequence is None:
                try:
                    item_column = value.lc.item(0)[1]
                except (KeyError, TypeError, AttributeError, IndexError):
                    continue
                if not isinstance(value[0], (Mapping, list)):
                    sequence = item_column - key_column
                    offset = max(sequence - 2, 0)
            pending.append(value)
    mapping = mapping if mapping and mapping > 0 else 2
    sequence = sequence if sequence and sequence >= 2 else 2
    yaml.indent(mapping=mapping, sequence=max(sequence, (offset or 0) + 2), offset=offset or 0)
