"""Render DOT text to PNG with Graphviz's ``dot`` program (an optional system dependency).

``render_png(to_dot(graph, statuses), "graph.png")``. A missing ``dot`` is a
:class:`~bricksmith.errors.UsageError` saying how to install it or which text format to use
instead; a failing or hanging ``dot`` is a :class:`GraphvizError`. The PNG is written to a
temporary name beside ``out_path`` and renamed, so a failed render never leaves half a file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bricksmith.atomic import temporary_path
from bricksmith.errors import BricksmithError, UsageError

__all__ = ["DOT_TIMEOUT_SECONDS", "GraphvizError", "find_dot", "render_png"]

DOT_TIMEOUT_SECONDS = 60.0
INSTALL_HINT = (
    "install Graphviz (`apt-get install graphviz`, `brew install graphviz`, "
    "or https://graphviz.org/download/), or use --format dot or --format mermaid"
)


class GraphvizError(BricksmithError):
    """Graphviz's ``dot`` failed or timed out while rendering."""


def find_dot() -> str:
    """The path of the ``dot`` executable; :class:`UsageError` when it is not on PATH."""
    found = shutil.which("dot")
    if found is None:
        raise UsageError(
            "PNG output needs Graphviz's `dot` program, which is not on PATH", hint=INSTALL_HINT
        )
    return found


def render_png(
    dot_source: str, out_path: str | os.PathLike[str], *, timeout: float = DOT_TIMEOUT_SECONDS
) -> Path:
    """Render ``dot_source`` to a PNG file at ``out_path``; return that path."""
    dot = find_dot()
    out = Path(out_path)
    if not out.parent.is_dir():
        raise UsageError(
            f"cannot write {out}: folder {out.parent} does not exist",
            hint="create the folder first or choose another output path",
        )
    tmp: Path | None = None
    try:
        tmp = temporary_path(out)  # fits the file system's limit on a name
        _run_dot(dot, dot_source, tmp, timeout)
        with open(tmp, "rb+") as written:  # on disk before it takes the name
            os.fsync(written.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise GraphvizError(
            f"cannot write {out}: {exc.strerror or exc}", hint="check the output path"
        ) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return out


def _run_dot(dot: str, source: str, target: Path, timeout: float) -> None:
    try:
        done = subprocess.run(
            [dot, "-Tpng", "-o", str(target)],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError(f"cannot run Graphviz's `dot` ({dot})", hint=INSTALL_HINT) from None
    except subprocess.TimeoutExpired:
        raise GraphvizError(
            f"Graphviz's `dot` did not finish within {timeout:g} s",
            hint="the graph may be too large for PNG; use --format dot or --format mermaid",
        ) from None
    if done.returncode != 0 or target.stat().st_size == 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise GraphvizError(
            f"Graphviz's `dot` failed (exit {done.returncode})" + (f": {detail}" if detail else ""),
            hint="run with --format dot to inspect the source it was given",
        )
