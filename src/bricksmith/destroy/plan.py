"""What ``bricksmith destroy`` would remove in a target, read from its state: each item (the
workspace repo, the notebook, each upload's files, the target's own logs, scratch folders,
state and lock) checked for existence, with what is kept and what the state cannot say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        kept=_kept(workflow, records), notes=notes, snapshot=state_snapshot(records),
    )


def _recorded(records, notes: list[str], state: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, step, outputs) of what the steps recorded making in the workspace and DBFS.
    A succeeded record without what its step always records is damage (StateError): destroy
    then removes nothing, the state and its copy least of all."""
    from bricksmith.records import damaged

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


def is_scratch(path: Path, root: Path) -> bool:
    """A run's scratch folder (``<root>/cluster/<run>``): everything in it is the run's."""
    return path.parent == root / "cluster"


def _listing(base: Path, paths: tuple[Path, ...]) -> str | None:
    """``runs/a.log, scaffold.log`` or ``baseline/ (12 file(s))``: exactly what goes (the
    folders bricksmith made go too, once empty). None when that is folders only."""
    shown = []
    for path in sorted(paths, key=lambda p: (p.name.startswith("."), p)):  # the runs' first
        name = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        if is_scratch(path, base.parent):
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
    from bricksmith.gitremote import local_remote_path, remote_location

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


def state_snapshot(records) -> dict[str, tuple[str, str]]:
    return {key: (r.status, r.outputs_json) for key, r in records.items()}
