"""Writing a file whole or not at all: a temporary file beside it, fsync'ed, then renamed."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_text_atomically(
    path: str | os.PathLike, text: str, *, create_folder: bool = False
) -> Path:
    """Write ``text`` to ``path`` (its folder created when ``create_folder``); a failure leaves
    the old file as it was and no temporary file behind."""
    target = Path(path)
    if create_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
