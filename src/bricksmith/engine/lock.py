"""One apply per target at a time.

The lock is an OS file lock (``filelock``), so the kernel releases it when the holder dies;
beside it a small JSON file names the holder (pid, host, start time, command) for the message
a second apply prints.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from bricksmith.engine.state import now
from bricksmith.errors import LockedError, LockHolder


class TargetLock:
    def __init__(self, root: Path, target: str) -> None:
        self.path = root / "apply.lock"
        self.holder_path = root / "apply.lock.json"
        self.target = target
        self._lock = None

    def read_holder(self) -> LockHolder | None:
        try:
            data = json.loads(self.holder_path.read_text())
            return LockHolder(**data)
        except (OSError, ValueError, TypeError):
            return None

    def acquire(self) -> None:
        from filelock import FileLock, Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            holder = self.read_holder()
            who = holder.describe() if holder else "another process"
            raise LockedError(
                f"target {self.target!r} is locked by an apply in progress: {who}",
                hint="wait for it to finish; only one apply per target runs at a time",
            ) from None
        self._lock = lock
        holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=now(),
            command=" ".join(["bricksmith", *sys.argv[1:]])[:200],
        )
        tmp = self.holder_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(holder.__dict__))
        os.replace(tmp, self.holder_path)

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            self.holder_path.unlink(missing_ok=True)
        finally:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> TargetLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
