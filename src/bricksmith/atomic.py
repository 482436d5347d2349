"""Writing a file whole or not at all: a temporary file beside it, fsync'ed, then renamed.

Every file bricksmith writes in a project, a target's state folder or the emulated workspace
goes through here, so that a full disk or a kill leaves the old file as it was (and no
temporary file behind, unless the process was killed: then the temporary name says what it
is). Temporary names always fit the file system's limit on a name (255 bytes on ext4, xfs,
btrfs, tmpfs; NAME_MAX in limits.h): a long name is shortened and a digest of it keeps the
temporary name unique.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

NAME_MAX = 255  # bytes in one file name (Linux's NAME_MAX, and macOS's APFS limit)


def temporary_path(
    target: str | os.PathLike, suffix: str = ".tmp", *, hidden: bool = True,
    unique: bool = True,
) -> Path:
    """The temporary name beside ``target`` that a write of it uses: ``.<name>.<random>
    <suffix>`` (``hidden``: the leading dot; ``unique``: the random part), always ending with
    ``suffix`` and at most NAME_MAX bytes long."""
    target = Path(target)
    prefix = "." if hidden else ""
    tag = f".{secrets.token_hex(4)}" if unique else ""
    name = f"{prefix}{target.name}{tag}{suffix}"
    if len(name.encode()) > NAME_MAX:
        digest = hashlib.sha256(target.name.encode()).hexdigest()[:16]
        tail = f"~{digest}{tag}{suffix}"
        room = NAME_MAX - len(prefix.encode()) - len(tail.encode())
        head = target.name.encode()[:room].decode("utf-8", "ignore")
        name = f"{prefix}{head}{tail}"
    return target.with_name(name)


def write_bytes_atomically(
    path: str | os.PathLike, data: bytes, *, create_folder: bool = False,
    suffix: str = ".tmp",
) -> Path:
    """Write ``data`` to ``path`` (its folder created when ``create_folder``); a failure
    leaves the old file as it was and no temporary file behind. Raises OSError."""
    target = Path(path)
    if create_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target, suffix)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def write_text_atomically(
    path: str | os.PathLike, text: str, *, create_folder: bool = False, suffix: str = ".tmp"
) -> Path:
    """Write ``text`` (UTF-8, "\\n" line ends kept as they are) like write_bytes_atomically."""
    return write_bytes_atomically(path, text.encode("utf-8"), create_folder=create_folder,
                                  suffix=suffix)


def copy_atomically(
    source: str | os.PathLike, path: str | os.PathLike, *, suffix: str = ".tmp",
    hidden: bool = True, unique: bool = True, chunk: int = 1 << 20,
) -> Path:
    """Copy the file ``source`` to ``path`` through a temporary name (``temporary_path``),
    fsync'ed before the rename: the copy lands whole or not at all. Raises OSError."""
    target = Path(path)
    temporary = temporary_path(target, suffix, hidden=hidden, unique=unique)
    try:
        with open(source, "rb") as src, open(temporary, "wb") as out:
            while block := src.read(chunk):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
