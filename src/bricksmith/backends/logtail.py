"""Follow a log file another process appends to, line by line (``apply -v`` streams a local
run's Kedro log this way)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

POLL_S = 0.2


class LogFollower:
    """Calls ``on_line`` with each complete line appended to ``path`` from ``offset`` on, from
    a thread, until :meth:`stop` (which hands over what is left, the last partial line too)."""

    def __init__(self, path: Path, on_line: Callable[[str], None], *, offset: int = 0) -> None:
        self.path, self.on_line, self.offset = Path(path), on_line, offset
        self._pending = ""
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="bricksmith log", daemon=True)

    def __enter__(self) -> LogFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self._read()
        if self._pending:
            self._emit(self._pending)
            self._pending = ""

    def _follow(self) -> None:
        while not self._stopped.wait(POLL_S):
            self._read()

    def _read(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except OSError:
            return
        if not chunk:
            return
        self.offset += len(chunk)
        *lines, self._pending = (self._pending + chunk.decode("utf-8", "replace")).split("\n")
        for line in lines:
            self._emit(line)

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        if line.strip():
            self.on_line(line)
