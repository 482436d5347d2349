"""Run a command with its output appended to a log file; read the end of a log."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

LOG_TAIL_LINES = 40


def run_logged(
    command: Sequence[str], *, log_path: Path, cwd: Path, env: Mapping[str, str]
) -> int | None:
    """Run ``command`` without stdin (nothing can prompt), output appended to ``log_path``.

    Returns the exit status, or None when the command could not start (the reason is logged).
    """
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        try:
            return subprocess.run(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                check=False,
            ).returncode
        except OSError as exc:
            log.write(f"{exc}\n")
            return None


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file ("" when it cannot be read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""
