"""Where a value is in a spec: key paths (``("runs", 1, "params")``), 1-based (line, column)
positions, a path as users write it (``runs[1].params``), and a diagnostic at a position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bricksmith.errors import Diagnostic

KeyPath = tuple[str | int, ...]
Position = tuple[int, int]  # (line, column), both 1-based
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


def diag(
    file: str,
    message: str,
    hint: str | None,
    *,
    line: int | None = None,
    column: int | None = None,
    path: str = "",
) -> Diagnostic:
    """A diagnostic of ``file``, at (``line``, ``column``) and key ``path`` when known."""
    return Diagnostic(file=file, line=line, column=column, path=path, message=message, hint=hint)
