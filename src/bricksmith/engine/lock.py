"""One apply per target at a time.

The lock is an OS file lock (``filelock``), so the kernel releases it when the holder dies;
beside it a small JSON file names the holder (pid, host, start time, command) for the message
a second apply prints. A holder file left by a killed apply is recognised as stale (its lock
is free, its pid is gone) and replaced; ``bricksmith state unlock`` removes it by hand, and
with ``--force`` breaks a lock whose holder cannot be checked (another host, a stuck NFS lock).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from bricksmith.atomic import write_text_atomically
from bricksmith.errors import LockedError, LockHolder, StateError
from bricksmith.records import now


class TargetLock:
    def __init__(self, root: Path, target: str) -> None:
        self.path = root / "apply.lock"
        self.holder_path = root / "apply.lock.json"
        self.target = target
        self._lock = None
        self.stale: LockHolder | None = None

    def read_holder(self) -> LockHolder | None:
        try:
            data = json.loads(self.holder_path.read_text())
            return LockHolder(**data)
        except (OSError, ValueError, TypeError):
            return None

    def is_free(self) -> bool:
        """Whether nobody holds the OS lock right now (probing takes and drops it)."""
        from filelock import FileLock, Timeout

        if not self.path.exists():
            return True
        probe = FileLock(str(self.path), timeout=0)
        try:
            probe.acquire()
        except Timeout:
            return False
        probe.release()
        return True

    def unlock(self, *, force: bool = False) -> str:
        """Remove a stale lock; refuse a live one unless ``force``. Says what it did."""
        holder = self.read_holder()
        who = holder.describe() if holder else "an unknown process"
        if self.is_free():
            if holder is None:  # a finished apply leaves the lock file, free and unnamed
                return f"target {self.target!r} is not locked"
            self.holder_path.unlink(missing_ok=True)
            return f"removed the stale lock of target {self.target!r} left by {who}"
        if holder and holder.host == socket.gethostname() and _alive(holder.pid) and not force:
            raise LockedError(
                f"target {self.target!r} is locked by a running apply: {who}",
                hint="wait for it, or stop it; --force breaks the lock anyway (dangerous)",
            )
        if not force:
            raise LockedError(
                f"target {self.target!r} is locked by {who}, which cannot be checked from here",
                hint="make sure it is not running, then run `bricksmith state unlock --force`",
            )
        self.holder_path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        return f"broke the lock of target {self.target!r} held by {who}"

    def acquire(self) -> None:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path), timeout=0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            holder = self.read_holder()
            who = holder.describe() if holder else "another process"
            raise LockedError(
                f"target {self.target!r} is locked by an apply in progress: {who}",
                hint="wait for it to finish; only one apply per target runs at a time",
            ) from None
        except OSError as exc:
            raise StateError(
                f"cannot take the lock {self.path}: {exc.strerror or exc}",
                hint="make the target root writable (or free space on it), then apply again",
            ) from None
        self._lock = lock
        self.stale = self.read_holder()  # a holder file left behind by a killed apply
        holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=now(),
            command=" ".join(["bricksmith", *sys.argv[1:]])[:200],
        )
        try:
            write_text_atomically(self.holder_path, json.dumps(holder._asdict()))
        except OSError as exc:
            self.release()
            raise StateError(
                f"cannot write {self.holder_path}: {exc.strerror or exc}",
                hint="free space on that file system or make the folder writable, "
                "then apply again",
            ) from None

    def working(self) -> LockHolder | None:
        """Who holds the lock right now (a live apply), without waiting; None when nobody
        does or it cannot be told (the lock file cannot be opened)."""
        try:
            if self.is_free():
                return None
        except OSError:
            return None
        holder = self.read_holder()
        if holder and holder.pid == os.getpid() and holder.host == socket.gethostname():
            return None  # this process's own apply (planning a saved plan again)
        return holder or LockHolder(pid="?", host="?", started="?")

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            self.holder_path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> TargetLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
