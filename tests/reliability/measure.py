"""What a user meets after an attacked apply, measured: did the target converge to the right
end state, did anything happen twice, is anything of theirs lost or corrupt, did a secret leak,
what was left behind.

Each function returns a list of findings (strings); an empty list is the right value. Used by
``tests/reliability/attacks.py`` and the pytest sample.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REFERENCE = {"baseline": (120, 0.9333333333333333), "split-70": (105, 0.9555555555555556)}
# a value no file, output or command line may ever hold: the emulator's token, and a canary
# in the apply's environment (bricksmith's own environment must never be uploaded or written)
SECRET = "dapiRELIABILITY0SECRET0c4n4ry"
CANARY = "CANARY-bricksmith-reliability-7f3a"
COMPLETED = "Pipeline execution completed"


@dataclass
class Outcome:
    """One trial of one attack."""

    hit: bool = True  # the attack really happened (a kill that came after the apply finished
    # did not)
    converged: list[str] = field(default_factory=list)  # findings against convergence
    duplicated: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not (self.converged or self.duplicated or self.lost)

    def findings(self) -> list[str]:
        return [*self.converged, *self.duplicated, *self.lost, *self.leaked, *self.leftovers]


def env_for(work: Path, token: str | None = None) -> dict[str, str]:
    """The apply's environment: its own $TMPDIR (to count what it leaves there) and a canary."""
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(DO_NOT_TRACK="1", KEDRO_DISABLE_TELEMETRY="1", TMPDIR=str(tmp),
               RELIABILITY_CANARY=CANARY, PYTHONPATH=str(REPO))
    if token:
        env.update(DATABRICKS_TOKEN=token, DATABRICKS_CONFIG_FILE=str(work / "none"))
    return env


def bricksmith(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``bricksmith ARGS`` to its end; output captured."""
    return subprocess.run([sys.executable, "-m", "bricksmith.cli", "--no-color", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def killed_at(env: dict, args: list[str], delay: float, *, group: bool,
              outputs: list[str]) -> bool:
    """Start ``bricksmith ARGS`` in its own session and SIGKILL it (its pid, or its whole
    process group) ``delay`` seconds later; whether it was still running then."""
    process = subprocess.Popen([sys.executable, "-m", "bricksmith.cli", "--no-color", *args],
                               cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        process.wait(timeout=delay)
        hit = False
    except subprocess.TimeoutExpired:
        hit = True
        try:
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            hit = False
    out, _ = process.communicate(timeout=600)
    outputs.append(out or "")
    return hit and process.returncode == -signal.SIGKILL


def converge(env: dict, spec: Path, outputs: list[str], *, tries: int = 3,
             parallelism: int = 4) -> list[str]:
    """Apply until one succeeds (at most ``tries``), then check that a full plan has nothing
    to do."""
    for _ in range(tries):
        done = bricksmith(env, "apply", str(spec), "--parallelism", str(parallelism))
        outputs.append(done.stdout + done.stderr)
        if done.returncode == 0:
            break
    else:
        return [f"no apply succeeded in {tries} tries: {tail(outputs[-1])}"]
    plan = bricksmith({**env, "BRICKSMITH_PLAN_MEMO": "0"}, "plan", str(spec),
                      "--detailed-exitcode")
    outputs.append(plan.stdout + plan.stderr)
    if plan.returncode != 0:
        return [f"plan after convergence not empty: {tail(plan.stdout + plan.stderr)}"]
    return []


def tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])[:300]


def tracebacks(outputs: list[str]) -> list[str]:
    return [f"traceback: {tail(out)}" for out in outputs if "Traceback (most recent" in out]


def run_metrics(root: Path, runs: dict = REFERENCE) -> list[str]:
    """Each run's recorded metrics are the reference's (the run used its own params)."""
    try:
        with sqlite3.connect(root / "state.db") as db:
            rows = dict(db.execute("SELECT key, outputs FROM steps WHERE key LIKE 'run.%'"))
    except sqlite3.Error as exc:
        return [f"state unreadable: {exc}"]
    problems = []
    for name, (n_train, accuracy) in runs.items():
        try:
            metrics = json.loads(rows.get(f"run.{name}") or "{}").get("metrics", {})
        except (ValueError, AttributeError):
            metrics = {}
        if (metrics.get("n_train"), metrics.get("accuracy")) != (n_train, accuracy):
            problems.append(f"run {name} recorded metrics {metrics}")
    return problems


def same_tree(source: Path, copy: Path) -> list[str]:
    """``copy`` holds exactly ``source``'s files, byte for byte."""
    if not copy.is_dir():
        return [f"{copy} is missing"]
    want = {p.relative_to(source): p for p in source.rglob("*") if p.is_file()}
    have = {p.relative_to(copy): p for p in copy.rglob("*") if p.is_file()}
    problems = [f"{name} missing on DBFS" for name in sorted(set(want) - set(have))]
    problems += [f"{name} on DBFS has no source" for name in sorted(set(have) - set(want))]
    for name in sorted(set(want) & set(have)):
        if want[name].read_bytes() != have[name].read_bytes():
            problems.append(f"{name} on DBFS differs from its source "
                            f"({have[name].stat().st_size} vs {want[name].stat().st_size} bytes)")
    return problems


def local_executions(root: Path) -> dict[str, int]:
    """Completed notebook executions per run, from the kernel's own run logs: every file of
    ``logs/runs/NAME/`` (one per execution, ``bricksmith.run_logs``), or a ``NAME.log`` that
    is a file of its own (the earlier layout, every execution appended; the link to the latest
    execution is not counted again)."""
    logs = root / "logs" / "runs"
    if not logs.is_dir():
        return {}
    found: dict[str, int] = {}
    for log in sorted(logs.glob("*.log")):  # a link (symbolic, or hard) is counted in NAME/
        if not log.is_symlink() and log.stat().st_nlink == 1:
            found[log.stem] = log.read_text(errors="replace").count(COMPLETED)
    for folder in sorted(p for p in logs.iterdir() if p.is_dir()):
        found[folder.name] = found.get(folder.name, 0) + sum(
            log.read_text(errors="replace").count(COMPLETED) for log in folder.glob("*.log"))
    return found


def duplicates(*, root: Path, remote: Path, emulator=None, runs: int = 2,
               executions_before: dict | None = None, submitted_before: int = 0,
               folders_before: int = 0) -> list[str]:
    """Notebook executions, job submissions, Git folders and commits beyond one per run / one
    apply (counted from ``*_before``: what an earlier, finished apply did)."""
    import git

    problems = []
    before = executions_before or {}
    for run, count in local_executions(root).items():
        if count - before.get(run, 0) > 1:
            problems.append(f"run {run}: notebook executed {count - before.get(run, 0)} times")
    if emulator is not None and len(emulator.runs) - submitted_before > runs:
        problems.append(f"{len(emulator.runs) - submitted_before} job runs submitted for "
                        f"{runs} runs")
    if emulator is not None and emulator.calls["POST /api/2.0/repos"] - folders_before > 1:
        problems.append(f"{emulator.calls['POST /api/2.0/repos'] - folders_before} Git "
                        "folders created for one")
    if remote.is_dir():
        found = len(list(git.Repo(remote).iter_commits("main")))
        if found > 1:
            problems.append(f"{found} commits on the remote for one change")
    return problems


def project_intact(project: Path, remote: Path) -> list[str]:
    """The user's project is whole: committed, clean, and what the remote holds."""
    import git

    if not (project / ".git").is_dir():
        return [f"project {project.name} is gone"]
    repo = git.Repo(project)
    problems = []
    if repo.is_dirty(untracked_files=True):
        problems.append(f"project has uncommitted changes: {repo.git.status('--short')[:200]}")
    if remote.is_dir() and repo.head.commit.hexsha != git.Repo(remote).commit("main").hexsha:
        problems.append("project HEAD is not the remote's main")
    return problems


def leftovers(work: Path) -> list[str]:
    """Staging folders, temporary files in $TMPDIR and in the target, processes still running
    from this trial."""
    found = [f"staging folder {p.name}" for p in work.glob(".*-new-*")]
    tmp = work / "tmp"
    if tmp.is_dir():
        found += [f"$TMPDIR/{p.name}" for p in tmp.iterdir()]
    found += [f"temporary file {p.relative_to(work)}" for p in work.glob(".bricksmith/**/*")
              if "bricksmith-tmp" in p.name]
    found += [f"process {pid}: {line[:120]}" for pid, line in processes_under(work)]
    return found


def processes_under(work: Path) -> list[tuple[int, str]]:
    """Live processes whose command line or environment names ``work``."""
    me, found = os.getpid(), []
    marker = str(work).encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            line = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            if marker not in line:
                environ = Path(f"/proc/{entry.name}/environ").read_bytes()
                if marker not in environ:
                    continue
            if Path(f"/proc/{entry.name}/stat").read_text().split(") ")[-1].startswith("Z"):
                continue
        except OSError:
            continue
        found.append((int(entry.name), line.replace(b"\0", b" ").decode(errors="replace")))
    return found


def wait_for_processes(work: Path, timeout: float = 20.0) -> None:
    """Give processes of a killed apply (a kernel finishing its run) time to end."""
    deadline = time.monotonic() + timeout
    while processes_under(work) and time.monotonic() < deadline:
        time.sleep(0.2)


def secret_in(data: bytes) -> bool:
    return SECRET.encode() in data or CANARY.encode() in data


def secrets_in_files(work: Path, outputs: list[str]) -> list[str]:
    found = []
    for path in work.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and secret_in(path.read_bytes()):
                found.append(f"secret in {path.relative_to(work)}")
        except OSError:
            continue
    found += [f"secret in output #{n}" for n, out in enumerate(outputs)
              if secret_in(out.encode())]
    return found


@contextmanager
def watching_command_lines():
    """Scan every other process's ``/proc/*/cmdline`` for the secrets while the block runs;
    yields the list of command lines found holding one."""
    found: list[str] = []
    stop = threading.Event()
    me = str(os.getpid())

    def watch() -> None:
        while not stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit() or entry.name == me:
                    continue
                try:
                    line = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                except OSError:
                    continue
                if secret_in(line):
                    found.append(re.sub(r"\s+", " ", line.replace(b"\0", b" ").decode(
                        errors="replace"))[:160])
            stop.wait(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()
