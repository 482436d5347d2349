"""Where the command line writes: the rich console (plain with --no-color or NO_COLOR, wide
tables when piped) and the files ``--out`` names (a folder means a default name in it)."""

from __future__ import annotations

import os
import sys

from bricksmith.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path

PIPED_WIDTH = 160  # columns for tables when the output is not a terminal


def _console(args, *, stderr: bool = False):
    from rich.console import Console

    plain = args.no_color or bool(os.environ.get("NO_COLOR"))
    stream = sys.stderr if stderr else sys.stdout
    # piped output (CI logs, files, `| grep`) gets room for wide tables instead of 80 columns
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(stderr=stderr, no_color=plain, highlight=False, soft_wrap=True, width=width)


def _output_path(out: str | os.PathLike, default_name: str | None = None) -> Path:
    """``--out`` as a file: a folder means ``default_name`` in it, or an error without one."""
    from pathlib import Path

    path = Path(out)
    if path.is_dir() or not path.name:
        if default_name is None:
            raise UsageError(f"--out {out} is a folder", hint="pass a file path, e.g. plan.json")
        return path / default_name
    return path


def _write_text(path: str | os.PathLike, text: str) -> None:
    from bricksmith.atomic import write_text_atomically

    try:
        write_text_atomically(path, text)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="pass --out FILE in a folder you can write to",
        ) from None
