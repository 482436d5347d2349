"""Cloning a git starter repository: shallow, never prompting, with a time limit.

Runs the git CLI (no GitPython import) in its own process group, so a clone that hangs on an
unreachable host is killed whole when the time is up. Errors name the URL without credentials.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bricksmith.errors import ScaffoldError

GIT = "git"
CLONE_TIMEOUT_S = 120.0  # one clone; the scaffold step as a whole has the engine's timeout
OFFLINE_HINT = (
    "offline, use a local template directory or the built-in starter databricks-iris"
)


def without_credentials(url: str) -> str:
    """``url`` with any password or token in it replaced by ``***``."""
    split = urlsplit(url)
    if not split.scheme or "@" not in split.netloc:
        return url
    userinfo, _, host = split.netloc.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    # https: a lone user name is often a token; ssh: it is the account (git@...).
    keep = user if not has_password and split.scheme.startswith(("ssh", "git+ssh")) else "***"
    return urlunsplit(split._replace(netloc=f"{keep}@{host}"))


def clone_starter(url: str, dest: Path, *, checkout: str | None = None) -> Path:
    """Clone ``url`` into the new folder ``dest`` at ``checkout`` (default branch when None).

    Shallow when it can be: a tag or branch is cloned at depth 1; a commit falls back to a
    full clone and a checkout. Raises :class:`ScaffoldError` saying what failed.
    """
    shown = without_credentials(url)
    shallow = ["clone", "--quiet", "--depth", "1", *(["--branch", checkout] if checkout else [])]
    code, err = _git([*shallow, "--", url, str(dest)], url=url)
    if code != 0 and checkout and "not found in upstream" in err:
        # not a tag or branch: maybe a commit, which needs the history
        shutil.rmtree(dest, ignore_errors=True)
        code, err = _git(["clone", "--quiet", "--no-checkout", "--", url, str(dest)], url=url)
        if code == 0:
            code, err = _git(["-C", str(dest), "checkout", "-q", "--detach", checkout], url=url)
            if code != 0:
                shutil.rmtree(dest, ignore_errors=True)
                raise ScaffoldError(
                    f"The starter repository {shown} has no tag, branch or commit {checkout!r}.",
                    hint="Check project.starter_checkout against the repository's tags and "
                    "branches.",
                    log_tail=err or None,
                )
    if code != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise ScaffoldError(
            f"Cannot clone the starter repository {shown}: {_reason(err, code)}",
            hint="Check the URL and that the repository is reachable from here (a git starter "
            f"needs the network when the project is created); {OFFLINE_HINT}.",
            log_tail=err or None,
        )
    return dest


def _reason(err: str, code: int) -> str:
    """git's first line that says what went wrong."""
    for line in err.splitlines():
        if line.strip() and not line.startswith(("warning:", "hint:", "Cloning into")):
            return line.strip().removeprefix("fatal: ").removeprefix("error: ")
    return f"git exit status {code}"


def _git(args: list[str], *, url: str) -> tuple[int, str]:
    """Run git; (exit status, stderr with credentials removed). Timeouts and a missing git
    binary raise :class:`ScaffoldError`."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=30")
    shown = without_credentials(url)
    try:
        process = subprocess.Popen(
            [GIT, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise ScaffoldError(
            f"Cannot clone the starter repository {shown}: git is not usable ({exc}).",
            hint=f"Install git; {OFFLINE_HINT}.",
        ) from exc
    try:
        _, err = process.communicate(timeout=CLONE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise ScaffoldError(
            f"Cloning the starter repository {shown} timed out after {CLONE_TIMEOUT_S:g} s.",
            hint=f"Check that the repository is reachable from here; {OFFLINE_HINT}.",
        ) from None
    if url != shown:
        err = err.replace(url, shown)
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
        if userinfo:
            err = err.replace(userinfo, "***")
    return process.returncode, err.strip()


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.communicate()
