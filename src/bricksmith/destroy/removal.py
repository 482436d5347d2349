"""Removing the items of a destroy plan under the target lock: the workspace and DBFS first,
then the target's own files; after any failure the state is kept, so that it still records
what remains.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bricksmith.backends.base import Removal
from bricksmith.destroy.plan import (
    DATA,
    LOGS,
    NOTEBOOK,
    REMOTE_KINDS,
    REPO,
    SCRATCH,
    DestroyPlan,
    Item,
    is_scratch,
    state_snapshot,
)
from bricksmith.errors import BricksmithError, StateError
from bricksmith.redact import redact


@dataclass
class DestroyResult:
    target: str
    removed: list[tuple[Item, Removal]] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)

    @property
    def state_kept(self) -> bool:
        return bool(self.failed)


def execute(workflow, plan: DestroyPlan, log: Callable[[str], None] = lambda m: None
            ) -> DestroyResult:
    """Remove the plan's items under the target lock: workspace and DBFS first, then the
    state; after any failure the state is kept. Raises when the state changed since the plan."""
    from bricksmith.engine.lock import TargetLock

    result = DestroyResult(plan.target)
    if not plan.todo:
        return result
    with TargetLock(workflow.root, workflow.target) as lock:
        if lock.stale:
            log(f"released a stale lock: {lock.stale.describe()}")
        if state_snapshot(workflow.records()) != plan.snapshot:
            raise StateError(
                f"the state of target {plan.target!r} changed since the destroy plan was made",
                hint="an apply ran meanwhile; run destroy again to see what it removes now",
            )
        for item in plan.todo:
            if item.kind not in REMOTE_KINDS and result.failed:
                break  # keep the state: it still records what remains
            _remove(workflow.backend, item, result, log)
        if not result.failed:
            lock.path.unlink(missing_ok=True)  # held until released: nobody can slip in
    if not result.failed:
        _prune_root(workflow.root)
    return result


def _remove(backend, item: Item, result: DestroyResult, log: Callable[[str], None]) -> None:
    try:
        if item.kind in REMOTE_KINDS:
            removal = _remove_remote(backend, item)
        elif item.kind in (LOGS, SCRATCH):
            if item.outputs.get("kernels"):
                from bricksmith.backends.kernels import stop_group

                for kernel in item.outputs["kernels"]:
                    stop_group(kernel)
            if item.outputs.get("clusters"):
                from bricksmith.backends.local_cluster import stop_drivers

                stop_drivers(Path(item.location).parent)
            removal = _remove_made(item.paths, Path(item.location).parent)
        else:
            removal = Removal(removed=sum(_remove_path(p) for p in item.paths))
    except BricksmithError as exc:
        result.failed.append((item, redact(exc.message)))
        log(f"x could not remove {item.describe()}: {redact(exc.message)}")
        return
    except OSError as exc:
        result.failed.append((item, str(exc)))
        log(f"x could not remove {item.describe()}: {exc}")
        return
    result.removed.append((item, removal))
    what = redact(item.kind)
    if removal.left:  # the folder stays, with the files of others in it
        what = f"what bricksmith wrote in {what}"
    log(f"- removed {what} {redact(item.location)}{_removal_note(item, removal)}")


def _remove_remote(backend, item: Item) -> Removal:
    remove = {REPO: backend.remove_repo, NOTEBOOK: backend.remove_notebook,
              DATA: backend.remove_upload}[item.kind]
    try:
        return remove(item.outputs)
    except KeyError as exc:  # a state written by another backend or version
        raise StateError(f"{item.step} did not record {exc} of its {item.kind}") from None


def _remove_path(path: Path) -> int:
    if path.suffix == ".db":
        _checkpoint(path)  # fold the WAL in first: never a database without its log
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    else:
        return 0
    return 1


def _remove_made(paths: tuple[Path, ...], root: Path) -> Removal:
    """Remove what bricksmith made (deepest first): its files, its runs' scratch folders
    whole, and the folders it made once they are empty; others' files stay."""
    removed, left = 0, []
    for path in sorted(paths, key=lambda p: (-len(p.parts), str(p))):
        if path.is_symlink() or not path.is_dir():
            removed += _remove_path(path)
        elif is_scratch(path, root):
            shutil.rmtree(path)
            removed += 1
        else:
            try:
                path.rmdir()
            except OSError:  # not empty: someone else's files are in it
                left += [p.relative_to(root).as_posix() for p in path.iterdir()
                         if not any(p == q or q.is_relative_to(p) for q in paths)]
    return Removal(removed=removed, left=sorted(set(left)))


def _checkpoint(db: Path) -> None:
    try:
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # damaged: it is being removed anyway


def _removal_note(item: Item, removal: Removal) -> str:
    note = ""
    if item.kind == DATA:
        note = f": {removal.removed} file(s)"
    elif item.kind in REMOTE_KINDS and not removal.removed:
        note = " (already gone)"
    if removal.left:
        shown = ", ".join(removal.left[:3]) + (" ..." if len(removal.left) > 3 else "")
        note += f"; kept {len(removal.left)} file(s) bricksmith did not write: {shown}"
    return note


def _prune_root(root: Path) -> None:
    """The target's root (and a ``.bricksmith`` folder holding it) once they are empty."""
    folders = [root] + ([root.parent] if root.parent.name == ".bricksmith" else [])
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (mlruns, a report), or gone
            return
