"""What bricksmith created under a target's root: the record ``destroy`` removes by.

A target's root may be a folder the user already had (``root: .``), holding ``logs/`` or
``cluster/`` folders of their own. So bricksmith notes each file and folder of its own there
(run and scaffold logs, run scratch folders, the folders holding them) *right after creating
it*, and never one that already existed: ``destroy`` removes exactly the noted ones, and a run
empties only a scratch folder it made.

The record is ``<root>/.bricksmith-made``: one path relative to the root per line, ending in
``<TAB>+`` (a complete line), appended with a single ``O_APPEND`` write (whole lines even when
runs write at once). A kill between creating
a path and noting it leaves that path un-noted: it is then kept, never removed by mistake. Each
write starts a new line too, so a line cut short by a kill stays on its own, and is ignored.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

RECORD = ".bricksmith-made"
END = "\t+"  # ends a complete line


class Made:
    """The record of what bricksmith made under ``root`` (a target's root folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / RECORD

    def exists(self) -> bool:
        return self.path.is_file()

    def folder(self, folder: Path) -> Path:
        """Create ``folder`` and its missing parents (like ``mkdir -p``), noting each one this
        call created inside the root. Returns ``folder``."""
        folder = Path(folder)
        missing = []
        probe = folder
        while not probe.exists() and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue  # someone else made it meanwhile: not ours
            self._note(path)
        return folder

    def file(self, file: Path) -> Path:
        """Create the empty file ``file`` (and its folders) unless it exists, noting what this
        call created. Returns ``file``, for the caller to write or append to."""
        file = Path(file)
        self.folder(file.parent)
        try:
            with open(file, "x", encoding="utf-8"):
                pass
        except FileExistsError:
            return file
        self._note(file)
        return file

    def note(self, path: Path) -> Path:
        """Note ``path``, which the caller has just created itself (a link, a file it moved
        into place), unless it is noted already. Returns ``path``."""
        if not self.owns(path):
            self._note(Path(path))
        return Path(path)

    def owns(self, path: Path) -> bool:
        """Whether bricksmith noted making ``path``."""
        relative = self._relative(Path(path))
        return relative is not None and relative in self.paths()

    def paths(self) -> set[str]:
        """The noted paths, relative to the root (POSIX form); empty when there is no record."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
        lines = (line[: -len(END)] for line in text.split("\n") if line.endswith(END))
        return {line for line in lines if _plausible(line)}

    def under(self, folder: str) -> list[Path]:
        """The noted paths inside ``<root>/<folder>`` (the folder itself too, when noted), as
        absolute paths, deepest first (the order to remove them in)."""
        found = [p for p in self.paths() if p == folder or p.startswith(folder + "/")]
        found.sort(key=lambda p: (-p.count("/"), p))
        return [self.root / p for p in found]

    def _relative(self, path: Path) -> str | None:
        root = os.path.abspath(self.root)
        absolute = os.path.abspath(path)
        if absolute == root or not absolute.startswith(root.rstrip(os.sep) + os.sep):
            return None
        return PurePosixPath(*Path(os.path.relpath(absolute, root)).parts).as_posix()

    def _note(self, path: Path) -> None:
        relative = self._relative(path)
        if relative is None or "\n" in relative:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"\n{relative}{END}\n".encode())
        finally:
            os.close(fd)


def _plausible(line: str) -> bool:
    parts = PurePosixPath(line).parts if line else ()
    return bool(parts) and not line.startswith("/") and ".." not in parts
