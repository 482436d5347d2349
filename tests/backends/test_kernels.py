"""Kernels as processes: identified by pid and start time, found by their result file, waited
on and stopped as a group (what a resumed apply re-attaches to)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bricksmith.backends.kernels import (
    KernelProcess,
    detached,
    find_kernel,
    start_time,
    stop_group,
    wait_for,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

SLEEPER = "import sys, time\nwhile True: time.sleep(0.05)"


def fake_kernel(result: Path, code: str = SLEEPER) -> subprocess.Popen:
    """A process whose command line looks like a kernel's writing ``result``."""
    return subprocess.Popen(
        [sys.executable, "-c", code, "notebook_kernel.py", "--result", str(result)],
        **detached(),
    )


def test_a_kernel_is_its_pid_and_start_time(tmp_path):
    process = fake_kernel(tmp_path / "result.json")
    try:
        kernel = KernelProcess.of(process.pid)
        assert kernel.start == start_time(process.pid) is not None
        assert kernel.alive()
        assert not KernelProcess(process.pid, kernel.start + 1).alive()  # a reused pid
        assert os.getpgid(process.pid) == process.pid  # detached: its own group
        assert os.getsid(process.pid) == process.pid
    finally:
        process.kill()
        process.wait()
    assert not kernel.alive()


def test_a_finished_child_not_yet_reaped_is_not_alive(tmp_path):
    process = fake_kernel(tmp_path / "r.json", "pass")
    kernel = KernelProcess.of(process.pid)
    assert wait_for(kernel, None)  # a zombie counts as ended
    process.wait()


def test_found_by_the_recorded_pid_or_by_its_result_file(tmp_path):
    result, other = tmp_path / "cluster/baseline/result.json", tmp_path / "other.json"
    process = fake_kernel(result)
    try:
        recorded = KernelProcess.of(process.pid).to_json()
        assert find_kernel(recorded, result) == KernelProcess.of(process.pid)
        # not checkpointed (the apply died right after starting it): found by its command line
        assert find_kernel(None, result) == KernelProcess.of(process.pid)
        assert find_kernel({"pid": process.pid, "start": 1}, result).pid == process.pid
        # a kernel of another result file is never taken for this one
        assert find_kernel(recorded, other) is None
        assert find_kernel(recorded, None).pid == process.pid  # an older bricksmith's kernel
    finally:
        process.kill()
        process.wait()
    assert find_kernel(recorded, result) is None


def test_a_pid_that_is_not_a_kernel_is_never_found_or_signalled(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", SLEEPER, "--result", "x"], **detached())
    try:
        assert find_kernel(KernelProcess.of(process.pid).to_json(), "x") is None
    finally:
        process.kill()
        process.wait()


def test_wait_for_gives_up_at_the_deadline_and_stop_group_ends_the_group(tmp_path):
    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "while True: time.sleep(0.05)"
    )
    process = fake_kernel(tmp_path / "r.json", code)
    kernel = KernelProcess.of(process.pid)
    while not marker.exists() or not marker.read_text():
        time.sleep(0.05)
    grandchild = KernelProcess.of(int(marker.read_text()))
    assert not wait_for(kernel, time.monotonic())  # the deadline has passed: still running
    assert stop_group(kernel, process)
    assert wait_for(grandchild, None)  # what the kernel started went with it
    assert not kernel.alive() and process.returncode is not None
    assert not stop_group(kernel)  # nothing left to stop


def test_ctrl_c_stops_the_kernels_the_local_backend_started(tmp_path):
    """The engine calls ``backend.interrupt()`` on Ctrl-C: kernels run detached (the
    terminal's SIGINT does not reach them), so the backend stops the ones it started."""
    import subprocess
    import sys

    from bricksmith.backends.kernels import KernelProcess, detached
    from bricksmith.backends.local import LocalBackend

    backend = LocalBackend(tmp_path / "root", "me", cache_dir=tmp_path / "cache")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             **detached())
    try:
        kernel = KernelProcess.of(child.pid)
        backend._kernels[child.pid] = kernel  # as run_notebook's on_start records it
        assert kernel.alive()
        assert backend.interrupt() == [child.pid]
        assert child.wait(timeout=30) != 0
        assert not kernel.alive()
    finally:
        if child.poll() is None:
            child.kill()
