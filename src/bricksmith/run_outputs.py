"""What a run writes, what it reads from the spec's uploads, and the locks that keep two runs
writing the same outputs from running at the same time.

Two runs of one project at once on shared storage contaminate each other: a versioned
dataset's load picks the newest version, which may be the other run's save (Kedro issues
#847, #1801: "Save version ... did not match load version"), and an unversioned file is
simply overwritten. So each run, for its whole length, holds one file lock per persisted
output location of its resolved catalog (``bricksmith.kedro_catalog``), taken in sorted
order (no deadlock): runs sharing an output take turns, runs sharing none overlap. The apply
process waits on Databricks job runs as on local ones, so this holds for both backends.

**The rule** (the project's pipeline is not imported, so which datasets a run writes is not
known exactly). A catalog dataset is a *raw input* when Kedro's layer metadata says ``raw``,
when a folder of its path is a raw layer (``raw``, ``01_raw``), or when it is unversioned and
one of the spec's uploads provides its file (the path lies under an upload's target and the
same relative path exists in the upload's source folder). Every other persisted dataset
(not a ``MemoryDataset``; factories by their path template) is taken as an output a run may
write. An intermediate file that is both uploaded from ``data/`` and rewritten by the runs is
therefore taken for an input: give it a layer folder of its own or keep it out of the upload.

Locations (what two runs share): ``dbfs:/X`` is ``/dbfs/X`` (the FUSE mount), ``/Volumes/...``
and other absolute paths as they are, ``s3://``-style URLs as written, a relative path
``repo:<workspace repo>/<path>`` (Kedro makes it absolute under the project, which is the
workspace repo on both backends). Lock files live in bricksmith's cache folder
(``locks/outputs``), named after the target (the local root, or the Databricks host) and the
location, so applies of other specs on the same machine and workspace take turns too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bricksmith.kedro_catalog import CatalogDataset, RunCatalog, fuse_path

_RAW_FOLDER = re.compile(r"^(\d+_)?raw$", re.IGNORECASE)
PROJECT_WIDE = "every output of the project"  # what is locked when the catalog cannot be read


@dataclass(frozen=True)
class Upload:
    """One ``data:`` entry: the source folder in the project and the target (``dbfs:/...`` or
    ``/Volumes/...``)."""

    source: Path
    target: str
    label: str = ""  # the source as the spec names it (data)

    def shown(self, rel: str) -> str:
        """``rel`` in the source folder, as the spec names it (``data/01_raw/iris.csv``)."""
        base = (self.label or str(self.source)).rstrip("/")
        return f"{base}/{rel}" if rel else base

    @property
    def fuse(self) -> str:
        return fuse_path(self.target)

    def relative(self, location: str) -> str | None:
        """``location`` relative to this upload's target ("" for the target itself), or None
        when it lies elsewhere."""
        root = self.fuse
        if location == root:
            return ""
        return location[len(root) + 1:] if location.startswith(root.rstrip("/") + "/") else None

    def provides(self, location: str) -> bool:
        """The upload puts a file or folder at ``location`` (its source has it)."""
        rel = self.relative(location)
        return rel is not None and (self.source / rel).exists()


def location(path: str, repo: str) -> str:
    """Where ``path`` (a catalog ``filepath``) lands, as two runs would share it."""
    text = path.strip()
    if text.startswith("dbfs:/"):
        return fuse_path(text)
    if text.startswith("file://"):
        text = text[len("file://"):]
    if "://" in text:
        return text.rstrip("/")
    if text.startswith("/"):
        return posixpath.normpath(text)
    return f"repo:{repo}/{posixpath.normpath(text)}"


def on_databricks_storage(loc: str) -> bool:
    """``loc`` is on DBFS (``/dbfs/...``) or a Unity Catalog volume (``/Volumes/...``)."""
    return loc == "/dbfs" or loc.startswith(("/dbfs/", "/Volumes/"))


def raw_layer(dataset: CatalogDataset) -> bool:
    """Kedro's layer metadata says raw, or a folder of the path is ``raw``/``01_raw``."""
    if dataset.layer and _RAW_FOLDER.match(dataset.layer.strip()):
        return True
    folders = (dataset.path or "").replace("\\", "/").split("/")[:-1]
    return any(_RAW_FOLDER.match(part) for part in folders)


def is_raw_input(dataset: CatalogDataset, loc: str, uploads: Iterable[Upload]) -> bool:
    """The rule of this module's docstring: a raw input, not an output."""
    if raw_layer(dataset):
        return True
    return not dataset.versioned and any(u.provides(loc) for u in uploads)


def written_outputs(
    catalog: RunCatalog, uploads: Iterable[Upload], repo: str
) -> dict[str, str]:
    """{location: dataset name} of the persisted datasets a run of ``catalog`` may write
    (the rule above), factories by their path template."""
    uploads = list(uploads)
    found: dict[str, str] = {}
    for dataset in catalog.datasets:
        if not dataset.persisted or not dataset.path:
            continue
        loc = location(dataset.path, repo)
        if not is_raw_input(dataset, loc, uploads):
            found.setdefault(loc, dataset.name)
    return found


def lock_namespace(settings: Any, root: str | os.PathLike) -> str:
    """What the storage of a target is: the local root, or the Databricks workspace."""
    if getattr(settings, "backend", "local") == "local":
        return f"local:{os.path.realpath(root)}"
    host = getattr(settings, "host", None) or f"profile {getattr(settings, 'profile', None)}"
    return f"databricks:{str(host).rstrip('/')}"


class OutputLocks:
    """File locks (``filelock``) on output locations, taken in sorted order on enter and
    held until exit. ``outputs`` is {location: dataset name}; ``holder`` names the run in
    messages (``run.baseline``). Before blocking on a lock another run holds, ``log`` says
    which run holds it and which output they share."""

    def __init__(
        self,
        namespace: str,
        outputs: Mapping[str, str],
        *,
        holder: str,
        folder: str | os.PathLike,
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.namespace, self.outputs, self.holder = namespace, dict(outputs), holder
        self.folder, self.log = Path(folder), log
        self._held: list[tuple[Any, Path]] = []

    def lock_file(self, loc: str) -> Path:
        name = hashlib.sha256(f"{self.namespace}\0{loc}".encode()).hexdigest()[:32]
        return self.folder / f"{name}.lock"

    def __enter__(self) -> OutputLocks:
        from filelock import FileLock, Timeout

        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            for loc in sorted(self.outputs):
                path = self.lock_file(loc)
                lock = FileLock(str(path), thread_local=False)
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    other = _read(path.with_suffix(".holder")) or "another run"
                    self.log(f"waiting for {other}: it writes {self.outputs[loc]} ({loc}) too; "
                             "runs that write the same outputs run one after the other")
                    lock.acquire()
                self._held.append((lock, path))
                _write(path.with_suffix(".holder"), self.holder)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def around(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` called while holding these locks."""

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return locked

    def release(self) -> None:
        while self._held:
            lock, path = self._held.pop()
            with contextlib.suppress(OSError):
                path.with_suffix(".holder").unlink(missing_ok=True)
            lock.release()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _write(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):  # only a message reads it
        path.write_text(text + "\n", encoding="utf-8")


# -- one workflow's runs (a LoadedSpec: ``spec.workflow``, ``spec.project_dir``) ----------------


def uploads_of(spec: Any) -> list[Upload]:
    """The spec's ``data:`` entries, sources resolved in the project."""
    return [Upload(spec.project_dir / d.source, d.target, d.source) for d in spec.workflow.data]


def run_catalog(spec: Any, params: Mapping[str, Any]) -> RunCatalog:
    """The catalog of a run of ``spec`` with the run's ``params``, resolved as the notebook's
    Kedro session resolves it (``data_root`` = the first upload's FUSE path). Raises
    :class:`~bricksmith.errors.ProjectConfError`."""
    from bricksmith.kedro_catalog import resolve_catalog, run_runtime_params

    data = spec.workflow.data
    return resolve_catalog(
        spec.project_dir,
        runtime_params=run_runtime_params(data[0].target if data else None, params),
    )


def run_output_locks(ctx: Any, holder: str, params: Mapping[str, Any]) -> OutputLocks:
    """The locks a run (``holder``, ``run.<name>``) holds while it runs: one per output its
    catalog may write; one for the whole project when the catalog cannot be resolved (then
    the project's runs take turns). ``ctx`` is the run step's ``StepContext``."""
    from bricksmith.cachedir import default_cache_dir
    from bricksmith.errors import ProjectConfError

    spec = ctx.spec
    name = spec.workflow.name
    try:
        outputs = written_outputs(run_catalog(spec, params), uploads_of(spec), name)
    except ProjectConfError as exc:
        ctx.log(f"the catalog cannot be resolved ({exc.message}): this run takes turns with "
                "the project's other runs")
        outputs = {f"project:{name}": PROJECT_WIDE}
    settings = spec.workflow.targets[ctx.target]
    return OutputLocks(
        lock_namespace(settings, ctx.root),
        outputs,
        holder=f"{holder} (process {os.getpid()})",
        folder=default_cache_dir() / "locks" / "outputs",
        log=ctx.log,
    )
