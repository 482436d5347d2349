"""``bricksmith destroy``: remove what apply made in a target, as its state recorded it.

Removed: the workspace repo (Git folder), the deployed notebook and its ``.bricksmith/<name>``
folder, the files each ``data.upload`` wrote (the ones in its manifest; folders this leaves
empty go too), then the target's own files: the logs and local runs' scratch folders that
bricksmith made in ``logs/`` and ``cluster/`` (as ``bricksmith.made`` recorded them; the
folders go once empty, other files in them stay), ``state.db`` and its backup, that record,
the lock. Kept: the local Kedro project, the git remote and its history, MLflow runs, job run
history, the workspace's git credential, and files others wrote next to the uploaded ones.

The state goes last, and only when everything else went: after a partial failure it still
records what remains, so ``destroy`` can simply be run again.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bricksmith.backends.base import Removal
from bricksmith.errors import BackendError, BricksmithError, StateError, UsageError
from bricksmith.made import Made
from bricksmith.redact import redact

REPO, NOTEBOOK, DATA = "workspace repo", "notebook", "data"
LOGS, SCRATCH = "logs", "run scratch"
BACKUP, STATE, LOCK = "state backup", "state", "lock"
REMOTE_KINDS = (REPO, NOTEBOOK, DATA)




@dataclass
class Item:
    """One thing destroy removes: what it is, where, whether it is there now."""

    kind: str
    location: str
    exists: bool
    step: str | None = None  # the step whose outputs recorded it
    detail: str = ""
    outputs: dict[str, Any] = field(default_factory=dict, repr=False)
    paths: tuple[Path, ...] = ()  # local files of the state kinds

    def describe(self) -> str:
        return redact(f"{self.kind} {self.location}" + (f" ({self.detail})" if self.detail else ""))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": redact(self.location), "exists": self.exists,
                "step": self.step, "detail": self.detail}


@dataclass
class DestroyPlan:
    target: str
    workspace: str  # the backend's one-line description
    items: list[Item]
    kept: list[str]  # what destroy never removes
    notes: list[str]  # what the state cannot say (steps that recorded nothing)
    snapshot: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    @property
    def todo(self) -> list[Item]:
        return [item for item in self.items if item.exists]

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "items": [i.to_json() for i in self.items],
                "kept": [redact(k) for k in self.kept], "notes": self.notes}


@dataclass
class DestroyResult:
    target: str
    removed: list[tuple[Item, Removal]] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)

    @property
    def state_kept(self) -> bool:
        return bool(self.failed)


class DestroyFailed(BackendError):
    """Some items could not be removed; the state was kept and still records them."""

    def __init__(self, message: str, *, hint: str | None = None, result=None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


# -- planning --------------------------------------------------------------------------------


def destroy_plan(workflow) -> DestroyPlan:
    """What destroy would remove in ``workflow``'s target, each item checked for existence."""
    records = workflow.records()
    protected = _protected(workflow)
    notes: list[str] = []
    found = _recorded(records, notes, workflow.state_path)
    backend = workflow.backend
    if found:
        backend.preflight()  # a wrong host or token fails here, before anything is asked
    items = []
    name = workflow.spec.workflow.name
    for kind, key, outputs in found:
        writer = outputs.get("_workflow") if kind == DATA else None
        if writer not in (None, name):  # a state another workflow's apply wrote over
            notes.append(f"not removed: data {outputs['target']} ({key}) was uploaded by "
                         f"workflow {writer!r}, not {name!r}")
            continue
        item = _remote_item(backend, kind, key, outputs)
        clash = _overlap(item, backend, protected)
        if clash:
            notes.append(f"not removed: {item.describe()} overlaps {clash}")
            continue
        items.append(item)
    items += _state_items(workflow, records, protected, notes)
    return DestroyPlan(
        target=workflow.target, workspace=backend.describe(), items=items,
        kept=_kept(workflow, records), notes=notes, snapshot=_snapshot(records),
    )


def _recorded(records, notes: list[str], state: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, step, outputs) of what the steps recorded making in the workspace and DBFS.
    A succeeded record without what its step always records is damage (StateError): destroy
    then removes nothing, the state and its copy least of all."""
    from bricksmith.engine.statefile import damaged

    wanted = {"workspace.repo": (REPO, "path"), "notebook.deploy": (NOTEBOOK, "path")}
    found = []
    for key in sorted(records, key=lambda k: (k not in wanted, k != "workspace.repo", k)):
        kind, needed = wanted.get(key) or ((DATA, "target") if key.startswith("data.upload[")
                                           else (None, ""))
        if kind is None:
            continue
        record = records[key]
        if record.outputs.get(needed):
            found.append((kind, key, record.outputs))
        elif record.status == "succeeded":
            raise damaged(state, f"the record of step {key} has no {needed!r}")
        else:
            notes.append(f"{key} ({record.status}) recorded nothing it made: whatever its "
                         "interrupted apply created is not known, so not removed")
    return found


def _remote_item(backend, kind: str, key: str, outputs: dict[str, Any]) -> Item:
    if kind == REPO:
        return Item(REPO, outputs["path"], backend.repo_exists(outputs), key, outputs=outputs)
    if kind == NOTEBOOK:
        folder = Path(outputs["path"]).parent
        detail = f"and its folder .bricksmith/{folder.name}" if (
            folder.parent.name == ".bricksmith") else ""
        return Item(NOTEBOOK, outputs["path"], backend.notebook_exists(outputs), key, detail,
                    outputs)
    present = backend.uploaded_present(outputs)
    total = len(outputs.get("_manifest", {}))
    return Item(DATA, outputs["target"], present > 0, key,
                f"{present} of {total} uploaded file(s) there", outputs)


def _state_items(workflow, records, protected: list[Path], notes: list[str]) -> list[Item]:
    """The target's own files that exist, in the order they are removed (the state last)."""
    root, state = workflow.root, workflow.state_path
    made = Made(root)
    groups = [
        (LOGS, root / "logs", _made_under(made, records, "logs")),
        (SCRATCH, root / "cluster", _made_under(made, records, "cluster")),  # local runs'
        (BACKUP, state.with_name(state.name + ".bak"),
         [state.with_name(state.name + s) for s in (".bak", ".bak.tmp", ".restore-tmp")]
         + sorted(root.glob(state.name + ".replaced-*"))),
        (STATE, state, [state, *(state.with_name(state.name + s) for s in ("-wal", "-shm")),
                        made.path]),
        (LOCK, root / "apply.lock", [root / "apply.lock", root / "apply.lock.json"]),
    ]
    items = []
    for kind, shown, paths in groups:
        there = tuple(p for p in paths if p.exists() or p.is_symlink())
        if not there:
            continue
        clash = next((c for p in there if (c := _clash(p, protected))), None)
        if clash:
            notes.append(f"not removed: {kind} {shown} overlaps {clash}")
            continue
        extra: dict[str, Any] = {}
        if kind in (LOGS, SCRATCH):
            detail = _listing(shown, there)
            if detail is None:  # only folders bricksmith made, and others' files in them
                continue
            if kind == SCRATCH and (kernels := _live_kernels(records)):
                extra["kernels"] = [kernel for _, kernel in kernels]
                detail += "; first stops the notebook kernel a killed apply left running: " + (
                    ", ".join(f"{key} (pid {kernel.pid})" for key, kernel in kernels))
            if kind == SCRATCH and (clusters := _live_clusters(root)):
                extra["clusters"] = True
                detail += "; first stops the local cluster kept between applies: " + (
                    ", ".join(f"pid {pid}" for pid in clusters))
        else:
            detail = f"+{len(there) - 1} more" if len(there) > 1 and kind == BACKUP else ""
        items.append(Item(kind, str(shown), True, detail=detail, outputs=extra, paths=there))
    return items


def _made_under(made: Made, records, folder: str) -> list[Path]:
    """What bricksmith made in ``<root>/<folder>`` (``logs``, ``cluster``), deepest first: as
    its record says, or for a target applied before there was one, the names its steps use."""
    if made.exists():
        return made.under(folder)
    runs = sorted(key[len("run."):] for key in records if key.startswith("run."))
    base = made.root / folder
    if folder == "logs":
        files = [base / "runs" / f"{name}.log" for name in runs]
        return [*files, base / "runs" / "environment.log", base / "scaffold.log",
                base / "runs", base]
    return [*(base / name for name in runs), base]


def _live_kernels(records) -> list[tuple[str, Any]]:
    """(step, kernel) of local runs whose notebook kernel still runs (their apply was killed):
    destroy stops them before it removes their scratch folders."""
    from bricksmith.backends.kernels import find_kernel

    found = []
    for key in sorted(records):
        outputs = records[key].outputs
        if key.startswith("run.") and outputs.get("_kernel") and outputs.get("_result"):
            kernel = find_kernel(outputs["_kernel"], outputs["_result"])
            if kernel is not None:
                found.append((key, kernel))
    return found


def _live_clusters(root: Path) -> list[int]:
    """The pids of the local clusters (``backends.local_cluster``) running under ``root``."""
    from bricksmith.backends.local_cluster import drivers

    return [driver.pid for _, driver in drivers(root)]


def _is_scratch(path: Path, root: Path) -> bool:
    """A run's scratch folder (``<root>/cluster/<run>``): everything in it is the run's."""
    return path.parent == root / "cluster"


def _listing(base: Path, paths: tuple[Path, ...]) -> str | None:
    """``runs/a.log, scaffold.log`` or ``baseline/ (12 file(s))``: exactly what goes (the
    folders bricksmith made go too, once empty). None when that is folders only."""
    shown = []
    for path in sorted(paths, key=lambda p: (p.name.startswith("."), p)):  # the runs' first
        name = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        if _is_scratch(path, base.parent):
            shown.append(f"{name}/ ({_count_files(path)} file(s))")
        elif not path.is_dir() or path.is_symlink():
            shown.append(name)
    if not shown:
        return None
    return ", ".join(shown)


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _protected(workflow) -> list[Path]:
    """The user's local project and a local git remote: never removed, nor anything in them."""
    from bricksmith.backends.git import local_remote_path, remote_location

    spec = workflow.spec
    paths = [spec.project_dir.resolve()]
    remote = local_remote_path(remote_location(spec.workflow.repo.remote, spec.base_dir))
    if remote is not None:
        paths.append(remote.resolve())
    return paths


def _clash(path: Path, protected: list[Path]) -> str | None:
    """Which protected folder ``path`` is, holds, or lies in (None: no overlap)."""
    resolved = path.resolve()
    for folder in protected:
        if resolved.is_relative_to(folder) or folder.is_relative_to(resolved):
            return f"the user's {folder}"
    return None


def _overlap(item: Item, backend, protected: list[Path]) -> str | None:
    if backend.name != "local":  # a remote workspace never holds the local project
        return None
    where = backend.data_path(item.location) if item.kind == DATA else item.location
    return _clash(Path(where), protected)


def _kept(workflow, records) -> list[str]:
    spec = workflow.spec
    wf = spec.workflow
    kept = [f"the Kedro project {spec.project_dir}",
            f"the git remote {wf.repo.remote} and its history"]
    if any(key.startswith("mlflow.") for key in records) or (wf.mlflow and wf.mlflow.enabled):
        kept.append("MLflow runs (destroy never removes them)")
    if workflow.settings.backend == "databricks":
        kept.append("job run history and the workspace's git credential (shared by your repos)")
    return kept


def _snapshot(records) -> dict[str, tuple[str, str]]:
    return {key: (r.status, r.outputs_json) for key, r in records.items()}


# -- removing --------------------------------------------------------------------------------


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
        if _snapshot(workflow.records()) != plan.snapshot:
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
    log(f"- removed {redact(item.kind)} {redact(item.location)}{_removal_note(item, removal)}")


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
        elif _is_scratch(path, root):
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


# -- the command -----------------------------------------------------------------------------


def print_plan(console, plan: DestroyPlan) -> None:
    console.print(f"Destroy target {plan.target!r} ({redact(plan.workspace)}):", markup=False)
    for item in plan.items:
        if item.exists:
            console.print(f"  - {item.describe()}", markup=False)
        else:
            console.print(f"  = {item.describe()}: already gone", markup=False)
    for note in plan.notes:
        console.print(f"  ! {redact(note)}", markup=False)
    for kept in plan.kept:
        console.print(f"  kept: {redact(kept)}", markup=False)


def run_destroy_command(workflow, *, yes: bool, console, confirm: Callable[[str], str] = input,
                        interactive: bool | None = None) -> int:
    """What ``bricksmith destroy`` runs: show the plan, confirm, remove, report."""
    plan = destroy_plan(workflow)
    if not plan.items and not plan.notes:
        console.print(f"Nothing to remove for target {plan.target!r}: it has no state, so "
                      "bricksmith has made nothing there (or it was destroyed).", markup=False)
        return 0
    print_plan(console, plan)
    todo = plan.todo
    if not todo:
        console.print(f"Nothing to remove for target {plan.target!r}.", markup=False)
        return 0
    if not yes:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            raise UsageError(
                f"destroy would remove {len(todo)} item(s) and needs confirmation, "
                "but the input is not a terminal",
                hint="pass --yes to remove them without asking",
            )
        try:
            answer = confirm(f"Remove these {len(todo)} item(s)? Type 'yes' to confirm: ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("yes", "y"):
            console.print("Destroy cancelled; nothing was removed.", markup=False)
            return 1
    result = execute(workflow, plan, log=lambda line: console.print(f"  {line}", markup=False))
    if result.failed:
        raise DestroyFailed(
            f"destroy of target {plan.target!r}: {len(result.failed)} item(s) could not be "
            f"removed ({len(result.removed)} removed); the state was kept",
            hint="it still records what remains: fix the cause above and run destroy again",
            result=result,
        )
    console.print(f"Destroyed target {plan.target!r}: {len(result.removed)} item(s) removed.",
                  markup=False)
    return 0
