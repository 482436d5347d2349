"""The plan memo: a plan remembered with what it relied on, replayed while that holds.

A plan is a function of the spec file, the environment values it refers to, the ``--var``
values, the saved state and what each step's check sees. When every check a plan made
passed (no drift), it writes a memo naming all but the last exactly — digests of the spec's
bytes and of those values, the code of this bricksmith, the state's (generation, revision)
or its absence — and the last as probes (``bricksmith.observations``): the checked steps'
observations plus the file-system facts the spec's validation relied on. The next plan of
the same spec and target replays the memo when all of that still holds, without importing the
models, reading the state or building a step: the same actions and warnings (the plan's
notes, with the probes of the catalog files they came from) for the cost of a stat per
file and a few git commands. A plan from scratch (no state) checks nothing, so its memo is
the digests and the facts. Anything that does not match (or cannot be read) means the full
plan, which writes a new memo. Plans that found drift are not remembered.

One memo per spec file and ``--target``, in the cache folder (``plans/``); nothing in it is a
secret (values are digested). ``BRICKSMITH_PLAN_MEMO=0`` turns memos off.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import namedtuple
from collections.abc import Mapping

from bricksmith.observations import Probe, all_hold

VERSION = 4  # 3: warnings (notes); 4: actions carry their conditional flag


# the target's name, (step, action, reasons) for every step in the plan's order, its notes
Replayed = namedtuple("Replayed", "target actions notes")


def enabled(environ: Mapping[str, str]) -> bool:
    return environ.get("BRICKSMITH_PLAN_MEMO", "1") != "0"


def memo_path(spec: str | os.PathLike, requested_target: str | None) -> str:
    """Where the memo of ``spec`` planned for ``requested_target`` lives (os.path, not
    pathlib: a replay does not import it)."""
    from bricksmith.cachedir import default_cache_folder

    where = f"{os.path.realpath(spec)}\0{requested_target or ''}"
    name = hashlib.sha256(where.encode()).hexdigest()[:40]
    return os.path.join(default_cache_folder(), "plans", f"{name}.json")


def memo_key(
    source_sha256: str, inputs_sha256: str, requested_target: str | None, environ: Mapping
) -> str:
    """What must be equal for a memo to apply, besides the state and the probes."""
    parts = [VERSION, code_identity(), source_sha256, inputs_sha256, requested_target,
             environ.get("HOME")]  # "~" in a starter path expands with it
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def code_identity() -> str:
    """This bricksmith's code: the path, size and mtime of each of its Python files."""
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    found = []
    pending = [package]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    pending.append(entry.path)
                elif entry.name.endswith(".py"):
                    st = entry.stat()
                    found.append(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()


def write(
    *,
    spec: str | os.PathLike,
    requested_target: str | None,
    key: str,
    target: str,
    state_path: str | os.PathLike,
    revision: tuple[str, int] | None,
    plan,
    probes: list[Probe],
    signature: list | None = None,
) -> None:
    """Remember ``plan`` (whose checks all passed) made with the state at ``revision`` (None:
    there was no state), whose file had ``signature`` (``revision.signature``) when it was
    found sound. Never fails: a memo is an optimisation."""
    from bricksmith.atomic import write_text_atomically

    memo = {
        "version": VERSION,
        "key": key,
        "target": target,
        "state": [os.fspath(state_path), *(revision or (None, None))],
        "signature": signature or [],
        "actions": [[a.step, a.action, list(a.reasons), a.conditional] for a in plan.actions],
        "notes": list(plan.notes),
        "probes": probes,
    }
    try:
        write_text_atomically(memo_path(spec, requested_target), json.dumps(memo),
                              create_folder=True)
    except (OSError, TypeError, ValueError):
        return


def replay(
    spec: str | os.PathLike,
    *,
    requested_target: str | None,
    variables: Mapping[str, str] | None,
    environ: Mapping[str, str],
    refresh: bool = True,
) -> Replayed | None:
    """The remembered plan of ``spec`` when its memo still holds, else None.
    ``refresh=False`` (``plan --no-refresh``) skips the probes, as that plan skips the checks
    (which all passed when the memo was written, so it would say the same)."""
    if not enabled(environ):
        return None
    from bricksmith.spec.cache import SpecCache
    from bricksmith.state_revision import read_revision, signature

    try:
        with open(spec, "rb") as handle:
            raw = handle.read()
        with open(memo_path(spec, requested_target), "rb") as handle:
            memo = json.loads(handle.read())
        if memo.get("version") != VERSION:
            return None
        key = memo_key(hashlib.sha256(raw).hexdigest(),
                       SpecCache.inputs_digest(raw, environ, variables), requested_target,
                       environ)
        if key != memo["key"]:
            return None
        state, generation, revision = memo["state"]
        if generation is None:
            if os.path.lexists(state):
                return None  # applied since (or damaged): plan in full
        else:
            # a state written since the memo (an apply that changed no step) is checked
            # whole again before its revision is believed: never answer for a damaged file
            unchanged = signature(state) == memo["signature"]
            if read_revision(state, check=not unchanged) != (generation, revision):
                return None
        if refresh and not all_hold(memo["probes"]):
            return None
        return Replayed(target=memo["target"], actions=memo["actions"], notes=memo["notes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
