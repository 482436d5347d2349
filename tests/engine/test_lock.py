import os
import subprocess
import sys
import textwrap

import pytest

from bricksmith.engine.lock import TargetLock
from bricksmith.errors import LockedError


def test_second_holder_fails_at_once_naming_the_first(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from bricksmith.engine.lock import TargetLock
        lock = TargetLock(Path({str(tmp_path)!r}), "local")
        lock.acquire()
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError) as err:
            TargetLock(tmp_path, "local").acquire()
        assert f"pid {holder.pid}" in err.value.message
        assert "local" in err.value.message
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    # released when the holder ends
    with TargetLock(tmp_path, "local") as lock:
        assert lock.read_holder().pid == os.getpid()
    assert not (tmp_path / "apply.lock.json").exists()


def test_different_roots_do_not_block_each_other(tmp_path):
    with TargetLock(tmp_path / "a", "a"), TargetLock(tmp_path / "b", "b"):
        pass
