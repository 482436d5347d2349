import os
import subprocess
import sys
import textwrap

import pytest

from bricksmith.engine.lock import TargetLock
from bricksmith.errors import LockedError


def test_second_holder_fails_at_once_naming_the_first(tmp_path):
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(LockedError) as err:
            TargetLock(tmp_path, "local").acquire()
        assert f"pid {holder.pid}" in err.value.message
        assert "local" in err.value.message
    finally:
        holder.communicate("\n", timeout=10)
    # released when the holder ends
    with TargetLock(tmp_path, "local") as lock:
        assert lock.read_holder().pid == os.getpid()
    assert not (tmp_path / "apply.lock.json").exists()


def test_different_roots_do_not_block_each_other(tmp_path):
    with TargetLock(tmp_path / "a", "a"), TargetLock(tmp_path / "b", "b"):
        pass


def hold_lock(root):
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from bricksmith.engine.lock import TargetLock
        lock = TargetLock(Path({str(root)!r}), "local")
        lock.acquire()
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_lock_left_by_a_killed_apply_is_stale_and_replaced(tmp_path):
    holder = hold_lock(tmp_path)
    holder.kill()
    holder.wait(10)
    lock = TargetLock(tmp_path, "local")
    assert lock.read_holder().pid == holder.pid  # the holder file outlived its process
    assert "removed the stale lock" in lock.unlock()
    assert lock.read_holder() is None

    holder = hold_lock(tmp_path)
    holder.kill()
    holder.wait(10)
    with TargetLock(tmp_path, "local") as again:
        assert again.stale.pid == holder.pid
        assert again.read_holder().pid == os.getpid()


def test_unlock_refuses_a_live_holder_unless_forced(tmp_path):
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(LockedError, match=f"pid {holder.pid}") as err:
            TargetLock(tmp_path, "local").unlock()
        assert "--force" in err.value.hint
        assert "broke the lock" in TargetLock(tmp_path, "local").unlock(force=True)
        with TargetLock(tmp_path, "local"):  # a new apply can start
            pass
    finally:
        holder.communicate("\n", timeout=10)


def test_unlock_of_an_unlocked_target_says_so(tmp_path):
    assert TargetLock(tmp_path, "local").unlock() == "target 'local' is not locked"
