"""Probes: cheap observations that stand in for a step's drift check while nothing moves.

After a plan finds a step up to date, the step describes what its check relied on as probes;
a plan memo (``bricksmith.plan.memo``) keeps them, and the next plan only asks whether every
probe still holds: a stat per file or folder and a few git commands, instead of loading the
spec, the state and each step. A probe that fails sends the plan down the full path, which
says what changed. At the bottom, owned by no layer: steps and backends return what their
checks observed, and the memo stores and replays it. Probes are JSON lists:

    ["file", path, size, mtime_ns]   a regular file (symlinks followed) with this size and mtime
    ["size", path, size]             a regular file with this size
    ["dir", path, mtime_ns]          a folder with this mtime: no entry added, removed, renamed
    ["kind", path, kind]             path_kind(path) is kind ("dir", "file", "other", "missing")
    ["git", cwd, args, stdout]       `git <args>` in cwd (None: anywhere) exits 0 printing stdout
    ["env", name, set]               environment variable ``name`` is set (non-empty) or not;
                                     its value is never kept

A step's probes either restate what its recorded outputs require (a folder's stamps, the
commit HEAD must be at) or observe the world *before* its check reads it, so a change that
lands in between is always caught by one or the other. A file changed within a timestamp tick
of being observed cannot be told from a later change in the same tick, so it gives no probe
(``None``: this plan is not memoised), as with git's racy index entries.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable

from bricksmith.pathfacts import is_racy, path_kind

Probe = list  # of JSON values, see above
GIT_TIMEOUT_S = 60


def observe(path: str | os.PathLike) -> Probe | None:
    """What ``path`` is now: a "file" probe for a regular file, else a "kind" probe; None when
    the file changed too recently to be trusted."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ["kind", str(path), "missing"]
    if not stat.S_ISREG(st.st_mode):
        return ["kind", str(path), path_kind(path)]
    if is_racy(st.st_mtime_ns, time.time_ns()):
        return None
    return ["file", str(path), st.st_size, st.st_mtime_ns]


def observe_folder(path: str | os.PathLike) -> Probe | None:
    """What folder ``path`` is now: a "dir" probe (an entry added, removed or renamed changes
    its mtime), else a "kind" probe; None when it changed too recently to be trusted."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ["kind", str(path), "missing"]
    if not stat.S_ISDIR(st.st_mode):
        return ["kind", str(path), path_kind(path)]
    if is_racy(st.st_mtime_ns, time.time_ns()):
        return None
    return ["dir", str(path), st.st_mtime_ns]


def observe_all(paths: Iterable[str | os.PathLike]) -> list[Probe] | None:
    probes = [observe(path) for path in paths]
    return None if any(probe is None for probe in probes) else probes  # type: ignore[return-value]


def kind_probe(path: str | os.PathLike) -> Probe:
    return ["kind", str(path), path_kind(path)]


def git_probe(cwd: str | os.PathLike | None, args: list[str], stdout: str) -> Probe:
    return ["git", None if cwd is None else str(cwd), list(args), stdout]


def all_hold(probes: Iterable[Probe]) -> bool:
    """True when every probe holds now. File-system probes first, one stat each; then the git
    commands, all at once."""
    commands = []
    for probe in probes:
        kind = probe[0]
        if kind == "git":
            commands.append(probe)
        elif not _holds(kind, probe):
            return False
    return _commands_hold(commands)


def env_probe(name: str, environ=os.environ) -> Probe:
    return ["env", name, bool(environ.get(name))]


def _holds(kind: str, probe: Probe) -> bool:
    if kind == "kind":
        return path_kind(probe[1]) == probe[2]
    if kind == "env":
        return bool(os.environ.get(probe[1])) == probe[2]
    try:
        st = os.stat(probe[1])
    except (OSError, ValueError):
        return False
    if kind == "file":
        return stat.S_ISREG(st.st_mode) and st.st_size == probe[2] and st.st_mtime_ns == probe[3]
    if kind == "size":
        return stat.S_ISREG(st.st_mode) and st.st_size == probe[2]
    if kind == "dir":
        return stat.S_ISDIR(st.st_mode) and st.st_mtime_ns == probe[2]
    return False  # a probe this bricksmith does not know


def _commands_hold(commands: list[Probe]) -> bool:
    """Run the git probes at once; True when each exits 0 printing what it expects.

    Started with ``os.posix_spawnp`` and read with ``select`` rather than ``subprocess``:
    importing that costs as much as running the commands, in a replay of ~0.1 s in all."""
    if not commands:
        return True
    import select

    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    pids: list[int] = []
    outputs: dict[int, list[bytes]] = {}  # read end -> what came so far, while open
    try:
        for _kind, cwd, args, _stdout in commands:
            read, write = os.pipe()  # neither end is inherited; the child's stdout is a copy
            outputs[read] = []
            try:
                pids.append(os.posix_spawnp(
                    "git", ["git", *(["-C", cwd] if cwd else []), *args], env,
                    file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                  (os.POSIX_SPAWN_DUP2, write, 1),
                                  (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]))
            finally:
                os.close(write)
        printed = [outputs[fd] for fd in outputs]  # in the commands' order
        deadline = time.monotonic() + GIT_TIMEOUT_S
        while outputs:
            left = deadline - time.monotonic()
            ready = select.select(list(outputs), [], [], left)[0] if left > 0 else []
            if not ready:
                return False  # too slow: the finally stops them
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    outputs[fd].append(chunk)
                else:
                    os.close(fd)
                    del outputs[fd]
        held = True
        for pid, out, probe in zip(pids, printed, commands, strict=True):
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            held = held and code == 0 and b"".join(out).decode(errors="replace") == probe[3]
        pids.clear()  # all reaped
        return held
    except OSError:
        return False
    finally:
        for fd in outputs:
            os.close(fd)
        for pid in pids:
            _stop(pid)


def _stop(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass
