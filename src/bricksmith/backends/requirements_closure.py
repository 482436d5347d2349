"""The whole requirement set a ``requirements.txt`` asks for, and its cache key.

A requirements file may include others: ``-r other.txt`` / ``--requirement other.txt``
(requirements) and ``-c constraints.txt`` / ``--constraint ...`` (version constraints), each
relative to the file that names it, recursively (pip's rules: "Requirements File Format",
https://pip.pypa.io/en/stable/reference/requirements-file-format/). A local path requirement
(``-e ./src``, ``./pkg``, ``file:./pkg``) installs what that folder's ``pyproject.toml``,
``setup.py`` or ``setup.cfg`` declares. The run environment must be rebuilt when any of these
change, not only when the top-level file's bytes do: :func:`requirements_key` covers them all.

Not covered: what an unpinned requirement resolves to on the index today (``pandas>=2`` may
resolve to a newer release later); pin versions for reproducible runs.

This module is standalone (standard library only): the local notebook kernel loads it by file
path inside the run environment, where bricksmith itself is not installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys

# Changing how environments are built changes every key, so old environments are not reused.
RECIPE = "bricksmith-env-v3"
_INCLUDE = re.compile(r"^(?:-[rc]\s*|--(?:requirement|constraint)(?:\s*=\s*|\s+))(\S+)")
_EDITABLE = re.compile(r"^(?:-e|--editable)(?:\s*=\s*|\s+)(\S+)")
_PACKAGE_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
MISSING = b"\0missing\0"


def _strip_comment(line: str) -> str:
    # pip: a comment starts at "#" at the line start or after whitespace
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()


def _logical_lines(text: str) -> list[str]:
    """The file's lines with pip's backslash continuations joined and comments removed."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = _strip_comment(pending + raw)
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(_strip_comment(pending))
    return lines


def _local_path(line: str) -> str | None:
    """The folder a local path requirement names, else None (a name, a URL, an option)."""
    editable = _EDITABLE.match(line)
    target = editable.group(1) if editable else line.split(";", 1)[0].strip()
    if target.startswith("file:"):
        target = target[len("file:"):]
        if target.startswith("//"):
            target = target[2:]
    if target.startswith((".", "/")) or (editable and "://" not in target):
        return target.split("#", 1)[0].split("[", 1)[0]
    return None


def requirements_closure(path: str | os.PathLike[str]) -> list[tuple[str, bytes]]:
    """``[(name, bytes), ...]``: the file at ``path``, every file it includes with
    ``-r``/``-c`` (recursively, first appearance first, each once) and the package files of
    its local path requirements. ``name`` is relative to the top file's folder; a file that
    is named but missing gets :data:`MISSING` as its bytes (creating it changes the key).

    Raises OSError when the top-level file cannot be read.
    """
    top = os.path.abspath(os.fspath(path))
    base = os.path.dirname(top)
    found: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def add(file: str, *, required: bool = False) -> bytes | None:
        real = os.path.realpath(file)
        if real in seen:
            return None
        seen.add(real)
        try:
            with open(file, "rb") as handle:
                data = handle.read()
        except OSError:
            if required:
                raise
            data = None
        found.append((os.path.relpath(file, base), MISSING if data is None else data))
        return data

    def visit(file: str, *, required: bool = False) -> None:
        data = add(file, required=required)
        if data is None:
            return
        folder = os.path.dirname(file)
        for line in _logical_lines(data.decode("utf-8", errors="replace")):
            include = _INCLUDE.match(line)
            if include:
                visit(os.path.join(folder, include.group(1)))
                continue
            local = _local_path(line)
            if local is not None:
                package = os.path.join(folder, local)
                for name in _PACKAGE_FILES:
                    candidate = os.path.join(package, name)
                    if os.path.isfile(candidate):
                        add(candidate)

    visit(top, required=True)
    return found


def requirements_key(path: str | os.PathLike[str]) -> str:
    """The cache key (sha256 hex) of the requirement set ``path`` asks for, for this Python
    version: the closure's names and bytes (:func:`requirements_closure`) and the recipe.

    Raises OSError when the top-level file cannot be read.
    """
    digest = hashlib.sha256()
    version = f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}"
    digest.update(f"{RECIPE}\0{version}\0".encode())
    for name, data in requirements_closure(path):
        digest.update(f"{len(name)}:{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def closure_text(path: str | os.PathLike[str]) -> str:
    """The text of every requirements file in the closure (package files left out), for
    looking at what the set asks for as a whole."""
    return "\n".join(
        data.decode("utf-8", errors="replace")
        for name, data in requirements_closure(path)
        if data is not MISSING and os.path.basename(name) not in _PACKAGE_FILES
    )
