"""A local run outlives its killed apply: the next apply re-attaches to it like a Databricks job
run, and the notebook executes once (issue 15.5, 21.9).

The fixture project's first node appends a line to a file each time it executes, then waits for
a gate file: the test kills the apply's whole process group (SIGKILL) while the kernel is
inside the pipeline, at a moment it chooses, and counts executions. No timing is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bricksmith.backends.kernels import KernelProcess, stop_group, wait_for
from bricksmith.starters import builtin_starter_path, create_project
from tests.e2e.conftest import SPECS

pytestmark = pytest.mark.e2e

BOUND_S = 600  # only keeps a broken run from hanging the suite; nothing is timed
COUNTED = '''

def _counted():
    """Test fixture: note this execution, then wait for the test's gate."""
    import os
    import time

    with open(os.environ["BRICKSMITH_TEST_EXECUTIONS"], "a") as record:
        record.write(f"{os.getpid()}\\n")
    gate = os.environ.get("BRICKSMITH_TEST_GATE", "")
    deadline = time.monotonic() + 600
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)
'''


@pytest.fixture(scope="module")
def counted_project(tmp_path_factory) -> Path:
    """The built-in starter's project whose split_data node counts its executions."""
    dest = tmp_path_factory.mktemp("counted") / "iris-databricks"
    create_project(builtin_starter_path("databricks-iris"), dest, project_name="Iris Databricks",
                   log_path=dest.parent / "scaffold.log")
    nodes = dest / "src" / "iris_databricks" / "pipelines" / "iris" / "nodes.py"
    text = nodes.read_text()
    anchor = '    target = parameters["target_column"]\n'
    assert anchor in text
    nodes.write_text(text.replace(anchor, "    _counted()\n" + anchor, 1) + COUNTED)
    return dest


class Target:
    """The seed spec (one run) on the counted project, and the files the test watches."""

    def __init__(self, folder: Path, project: Path) -> None:
        self.folder = folder
        shutil.copytree(project, folder / "iris-databricks")
        self.spec = folder / "iris.yaml"
        text = (SPECS / "iris.yaml").read_text()
        self.spec.write_text(text[: text.index("  - name: split-70")])
        self.executions = folder / "executions.txt"
        self.gate = folder / "gate"
        self.tmp = folder / "tmp"
        self.tmp.mkdir()
        self.root = folder / ".bricksmith" / "local"
        self.env = {**os.environ, "BRICKSMITH_TEST_EXECUTIONS": str(self.executions),
                    "BRICKSMITH_TEST_GATE": str(self.gate), "TMPDIR": str(self.tmp),
                    "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"}
        self.applies = 0

    def start(self) -> tuple[subprocess.Popen, Path]:
        """``bricksmith apply -v`` in a process group of its own; its output goes to a file."""
        self.applies += 1
        out = self.folder / f"apply-{self.applies}.txt"
        with open(out, "w") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "bricksmith.cli", "--no-color", "apply", "-v",
                 str(self.spec)],
                cwd=self.folder, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return process, out

    def count(self) -> int:
        return len(self.executions.read_text().split()) if self.executions.exists() else 0

    def until(self, condition, process: subprocess.Popen, out: Path) -> None:
        deadline = time.monotonic() + BOUND_S
        while not condition():
            assert process.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.05)

    def kill_inside_the_pipeline(self) -> KernelProcess:
        """Start an apply, SIGKILL its process group once the node executes; the kernel."""
        process, out = self.start()
        self.until(lambda: self.count() == 1, process, out)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        kernel = self.recorded().get("_kernel")
        assert kernel, "the kernel's pid is checkpointed as soon as it starts"
        kernel = KernelProcess(kernel["pid"], kernel["start"])
        assert kernel.alive(), "the kernel is detached: a kill of the apply's group spares it"
        return kernel

    def apply(self) -> str:
        process, out = self.start()
        assert process.wait(timeout=BOUND_S) == 0, out.read_text()[-3000:]
        return out.read_text()

    def recorded(self) -> dict:
        with sqlite3.connect(self.root / "state.db") as db:
            row = db.execute("SELECT outputs FROM steps WHERE key = 'run.baseline'").fetchone()
        return json.loads(row[0]) if row else {}

    def completions(self) -> int:
        """Completed pipelines over every execution's log (``logs/runs/baseline/*.log``)."""
        logs = (self.root / "logs" / "runs" / "baseline").glob("*.log")
        return sum(log.read_text().count("Pipeline execution completed") for log in logs)

    def check_done(self, train_fraction: float = 0.8) -> None:
        outputs = self.recorded()
        assert outputs["metrics"]["train_fraction"] == train_fraction
        assert list(self.tmp.iterdir()) == []  # no bricksmith-run-* folder, no tmp*.py
        plan = subprocess.run([sys.executable, "-m", "bricksmith.cli", "plan", str(self.spec),
                               "--detailed-exitcode"], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, check=False)
        assert plan.returncode == 0, plan.stdout + plan.stderr


@pytest.fixture
def target(tmp_path, counted_project) -> Target:
    return Target(tmp_path, counted_project)


def test_a_resumed_apply_waits_for_the_kernel_still_running(target):
    kernel = target.kill_inside_the_pipeline()
    process, out = target.start()
    target.until(lambda: "re-attaching to the notebook kernel" in out.read_text(), process, out)
    assert kernel.alive() and target.count() == 1
    target.gate.touch()  # the orphan goes on and finishes; the resumed apply reads its result
    assert process.wait(timeout=BOUND_S) == 0, out.read_text()[-3000:]
    assert target.count() == 1 and target.completions() == 1
    assert target.recorded()["_reattached"] is True
    target.check_done()


def test_a_resumed_apply_adopts_the_result_of_a_finished_kernel(target):
    kernel = target.kill_inside_the_pipeline()
    target.gate.touch()
    assert wait_for(kernel, time.monotonic() + BOUND_S)  # it finished on its own
    text = target.apply()
    assert "adopted the result of the notebook run a killed apply started" in text
    assert target.count() == 1 and target.completions() == 1
    target.check_done()


def test_a_kernel_gone_without_a_result_is_run_again(target):
    kernel = target.kill_inside_the_pipeline()
    assert stop_group(kernel)  # died with no result (out of memory, a reboot)
    target.gate.touch()
    text = target.apply()
    assert "ended without a result: running it again" in text
    assert target.count() == 2 and target.completions() == 1
    target.check_done()


def test_a_kernel_of_changed_params_is_stopped_not_adopted(target):
    kernel = target.kill_inside_the_pipeline()
    target.spec.write_text(target.spec.read_text() + "    params: {train_fraction: 0.7}\n")
    process, out = target.start()
    target.until(lambda: "the run's inputs changed since" in out.read_text(), process, out)
    assert not kernel.alive()  # stopped before its run could finish
    target.gate.touch()
    assert process.wait(timeout=BOUND_S) == 0, out.read_text()[-3000:]
    assert target.count() == 2 and target.completions() == 1
    target.check_done(train_fraction=0.7)


def test_destroy_stops_a_kernel_left_running_before_removing_its_folder(target):
    kernel = target.kill_inside_the_pipeline()
    done = subprocess.run([sys.executable, "-m", "bricksmith.cli", "--no-color", "destroy",
                           str(target.spec), "--yes"], cwd=target.folder, env=target.env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"first stops the notebook kernel a killed apply left running: run.baseline "
            f"(pid {kernel.pid})") in done.stdout
    assert not kernel.alive()
    assert not target.root.exists()
    assert target.count() == 1
