"""The embedded local backend: a Databricks workspace emulated under the target's root.

    <root>/Workspace/Repos/<user>/<name>   workspace repos (real git clones of the remote)
    <root>/Workspace/Users/<user>/...      deployed notebooks (Databricks SOURCE .py files)
    <root>/dbfs/X                          DBFS: dbfs:/X, which notebooks see as /dbfs/X
    <root>/Volumes/<c>/<s>/<v>/...         Unity Catalog volumes
    <root>/cluster/<run>/                  a run's scratch folder
    <root>/cluster/.driver-<key>/          the local cluster kept between applies

Runs execute the deployed notebook cell by cell in an IPython shell inside an isolated
environment built from the repo's requirements.txt and cached by its hash, each in a kernel
forked by the local cluster (``local_cluster``) of that environment, or, with
``cluster_idle_minutes: 0`` or off Linux, in a Python of its own (``local_runner``).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.atomic import write_text_atomically
from bricksmith.backends import filesync
from bricksmith.backends.base import Removal, RunOutcome
from bricksmith.backends.kernels import KernelProcess, stop_group
from bricksmith.backends.local_data import TMP_SUFFIX, LocalData
from bricksmith.cachedir import default_cache_dir
from bricksmith.errors import BackendError, RunFailedError
from bricksmith.made import Made


class LocalBackend(LocalData):
    name = "local"

    def __init__(self, root: Path, user: str, cache_dir: Path | None = None,
                 cluster_idle_minutes: float = 15.0) -> None:
        self.root = root
        self.user = user
        self.cache_dir = cache_dir or default_cache_dir()
        # the local cluster outlives an apply this long without a run (0: a Python per run)
        self.cluster_idle_minutes = cluster_idle_minutes
        # kernels this backend started that are still running (Ctrl-C stops them: they run in
        # a session of their own, which the terminal's signal does not reach)
        self._kernels: dict[int, KernelProcess] = {}
        self._kernels_lock = threading.Lock()

    def interrupt(self) -> list[int]:
        """Stop every notebook kernel this backend started and that still runs (the engine
        calls it on Ctrl-C). Returns their process ids."""
        with self._kernels_lock:
            running = list(self._kernels.values())
        for kernel in running:
            stop_group(kernel)
        return [kernel.pid for kernel in running]

    def describe(self) -> str:
        return f"local workspace at {self.root}"

    def preflight(self, *, runs: bool = False) -> None:
        """Nothing to check: the emulated workspace and cluster are made on first use."""

    # -- paths -----------------------------------------------------------------------------

    def _inside(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        if ".." in PurePosixPath(*parts).parts:
            raise BackendError(f"path {'/'.join(parts)!r} escapes the workspace root")
        return path

    def repo_path(self, name: str) -> str:
        return str(self._inside("Workspace", "Repos", self.user, name))

    def data_path(self, target: str) -> str:
        if target.startswith("dbfs:/"):
            return str(self._inside("dbfs", target[len("dbfs:/") :].strip("/")))
        if target.startswith("/Volumes/"):
            return str(self._inside("Volumes", target[len("/Volumes/") :].strip("/")))
        raise BackendError(
            f"unsupported data target {target!r}", hint="use dbfs:/... or /Volumes/..."
        )

    def notebook_path(self, workflow: str) -> str:
        return str(self._inside("Workspace", "Users", self.user, ".bricksmith", workflow, "run"))

    # -- workspace repos -------------------------------------------------------------------

    def sync_repo(
        self, *, name: str, location: str, branch: str, commit: str, token_env: str | None,
        **options: Any,
    ) -> dict[str, Any]:
        """(``options``: Databricks' Git provider settings, unused here.)
        The Git folder exactly at ``commit``: files git does not hold there (edited,
        untracked or ignored; what runs write excepted) are removed, after a copy of each is
        kept under ``<root>/workspace-edits/<UTC time>/`` (``_kept``, ``_kept_files``)."""
        from bricksmith.backends.git_folder import sync_clone

        dest = Path(self.repo_path(name))
        head, kept, files = sync_clone(
            location, dest, branch=branch, commit=commit, token_env=token_env,
            keep_dir=self.root / "workspace-edits",
        )
        outputs: dict[str, Any] = {"path": str(dest), "branch": branch, "commit": head}
        if kept is not None:
            outputs.update({"_kept": str(kept), "_kept_files": files})
        return outputs

    def repo_drift(self, outputs: dict[str, Any], project: Path | None = None) -> list[str]:
        from bricksmith.backends.git_folder import folder_drift

        return folder_drift(Path(outputs["path"]), outputs["commit"])

    def repo_probes(self, outputs: dict[str, Any]) -> list | None:
        from bricksmith.backends.git_folder import folder_probes

        return folder_probes(Path(outputs["path"]))

    def repo_edits(self, outputs: dict[str, Any]) -> list[dict[str, Any]]:
        """Files edited, added or removed in the Git folder since its commit, with diffs
        (:func:`bricksmith.backends.workspace_edits.folder_edits`)."""
        from bricksmith.backends.workspace_edits import folder_edits

        return folder_edits(Path(outputs["path"]))

    def repo_file(self, outputs: dict[str, Any], path: str) -> bytes | None:
        """The bytes of ``path`` in the Git folder as it is now; None when it is not there."""
        from bricksmith.backends.git_folder import _read

        folder = Path(outputs["path"]).resolve()
        file = folder / path
        if folder not in file.resolve().parents and not file.is_symlink():
            return None
        return _read(file)

    # -- DBFS and volumes: upload, upload_drift, upload_probes, remove_upload (LocalData) --

    # -- notebooks -------------------------------------------------------------------------

    def deploy_notebook(self, path: str, source: str) -> dict[str, Any]:
        file = Path(path + ".py")
        write_text_atomically(file, source, create_folder=True, suffix=TMP_SUFFIX)
        return {"path": path, "file": str(file), "sha256": filesync.file_sha256(file)}

    def notebook_drift(self, outputs: dict[str, Any]) -> list[str]:
        file = Path(outputs["file"])
        if not file.is_file():
            return [f"notebook {outputs['path']} is missing"]
        if filesync.file_sha256(file) != outputs["sha256"]:
            return [f"notebook {outputs['path']} was edited in the workspace"]
        return []

    def notebook_edited(self, outputs: dict[str, Any]) -> bytes | None:
        """The deployed notebook's source when it was edited in the workspace since apply
        deployed it (None: as deployed, or gone)."""
        import hashlib

        from bricksmith.backends.git_folder import _read

        data = _read(Path(outputs["file"]))
        if data is None or hashlib.sha256(data).hexdigest() == outputs["sha256"]:
            return None
        return data

    def notebook_probes(self, outputs: dict[str, Any]) -> list | None:
        from bricksmith.observations import observe_all

        return observe_all([outputs["file"]])

    # -- runs ------------------------------------------------------------------------------

    def run_notebook(
        self,
        *,
        notebook: str,
        run_name: str,
        widgets: dict[str, str],
        requirements: str,
        log_dir: Path,
        timeout_s: float,
        checkpoint: Callable[[dict[str, Any]], None],
        previous: dict[str, Any],
        log: Callable[[str], None],
        fingerprint: str = "",
        stream: Callable[[str], None] | None = None,
        log_path: Path | None = None,
    ) -> RunOutcome:
        from bricksmith.backends.local_runner import run_notebook
        from bricksmith.backends.run_sandbox import RunSandbox
        from bricksmith.backends.runtime_env import ensure_environment

        log_path = Path(log_path) if log_path else log_dir / f"{run_name}.log"
        sandbox = RunSandbox.under(self.root, run_name)
        settled = {**previous, "_pending": False}  # a failed run is run again, never adopted
        try:
            result = _resume_run(previous, fingerprint, sandbox, log_path, timeout_s, log, stream)
        except RunFailedError:
            checkpoint(settled)
            raise
        if result is not None:
            if not result.ok:
                checkpoint(settled)
            # a good result stays pending until the step records it: a kill now re-adopts it
            kept = {k[1:]: previous[k] for k in ("_environment", "_environment_built")
                    if k in previous}
            return _outcome(result, log_path, {**kept, "reattached": True})
        made = Made(self.root)  # destroy removes these logs, and only these
        made.file(log_path)
        made.file(log_dir / "environment.log")
        requirements_file = Path(requirements)
        if not requirements_file.is_file():
            raise BackendError(
                f"{requirements} not found: the run environment is built from it",
                hint="add a requirements.txt to the Kedro project and commit it",
            )
        log(f"preparing the run environment from {requirements_file.name} (built once, cached)")
        env = ensure_environment(
            requirements_file, self.cache_dir / "envs", log_path=log_dir / "environment.log"
        )
        log("built the run environment" if env.built else "reused the cached run environment")
        details = {"environment": env.key[:16], "environment_built": env.built}
        # Before the kernel starts, the checkpoint says a run of this fingerprint may be in
        # flight and where its result will be; a stale result is gone first.
        sandbox.result_file.unlink(missing_ok=True)
        progress = {"_fingerprint": fingerprint, "_pending": True, "_log": str(log_path),
                    "_result": str(sandbox.result_file), "_started_at": time.time(),
                    **{f"_{k}": v for k, v in details.items()}}
        checkpoint(progress)

        ours: list[int] = []

        def started(pid: int) -> None:
            kernel = KernelProcess.of(pid)
            with self._kernels_lock:
                self._kernels[pid] = kernel
            ours.append(pid)
            checkpoint({**progress, "_kernel": kernel.to_json()})

        runner = run_notebook
        if self.cluster_idle_minutes > 0:
            from bricksmith.backends.local_cluster import LocalCluster

            cluster = LocalCluster(self.root, env.python, env.key,
                                   idle_s=self.cluster_idle_minutes * 60)
            runner = partial(cluster.run_notebook, log=log)
        try:
            result = runner(
                Path(notebook + ".py"),
                python=env.python,
                widgets=widgets,
                requirements_key=env.key,
                log_path=log_path,
                workdir=Path(notebook).parent,
                timeout=timeout_s,
                on_start=started,
                sandbox=sandbox,
                on_line=stream,
            )
        except RunFailedError:
            checkpoint({**progress, "_pending": False})  # nothing to re-attach to
            raise
        finally:
            with self._kernels_lock:
                for pid in ours:
                    self._kernels.pop(pid, None)
        if not result.ok:
            checkpoint({**progress, "_pending": False})  # a failed run is run again
        if runner is not run_notebook and cluster.driver_pid:
            details["cluster_pid"] = cluster.driver_pid  # the local cluster that ran it
        return _outcome(result, log_path, details)


    # -- destroy ---------------------------------------------------------------------------

    def _owned(self, path: str | Path, *under: str) -> Path:
        """``path`` resolved, when it lies strictly inside ``<root>/<under>``: only what this
        backend made there is ever removed."""
        base = self.root.joinpath(*under).resolve()
        resolved = Path(path).resolve()
        if resolved == base or not resolved.is_relative_to(base):
            raise BackendError(
                f"{path} is not inside {base}: bricksmith does not remove it",
                hint="the state names a path outside this target's workspace; remove it by hand",
            )
        return resolved

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents while they are empty, up to the root (kept)."""
        root = self.root.resolve()
        while folder != root and folder.is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                if folder.exists():
                    return
            folder = folder.parent

    def _removing(self, what: str, path: Path):
        return BackendError(f"could not remove {what} {path}", hint=f"check permissions on {path}")

    def repo_exists(self, outputs: dict[str, Any]) -> bool:
        return self._owned(outputs["path"], "Workspace", "Repos").is_dir()

    def remove_repo(self, outputs: dict[str, Any]) -> Removal:
        clone = self._owned(outputs["path"], "Workspace", "Repos")
        if not clone.exists():
            return Removal()
        try:
            shutil.rmtree(clone)
        except OSError as exc:
            raise self._removing("the workspace repo", clone) from exc
        self._prune(clone.parent)
        return Removal(removed=1)

    def notebook_exists(self, outputs: dict[str, Any]) -> bool:
        return self._owned(outputs["file"], "Workspace").is_file()

    def remove_notebook(self, outputs: dict[str, Any]) -> Removal:
        file = self._owned(outputs["file"], "Workspace")
        folder = file.parent  # .bricksmith/<workflow>: bricksmith's own (runs work in it)
        existed = file.exists()
        try:
            if folder.parent.name == ".bricksmith" and folder.is_dir():
                shutil.rmtree(folder)
            else:
                file.unlink(missing_ok=True)
        except OSError as exc:
            raise self._removing("the notebook", file) from exc
        self._prune(folder)
        return Removal(removed=int(existed))


def _resume_run(previous, fingerprint, sandbox, log_path, timeout_s, log, stream):
    """The result of the run a killed apply left in flight, waited for or adopted; None when
    there is none to re-attach to (then the notebook runs). A kernel of other inputs (the
    run's params or commit changed) is stopped first."""
    from bricksmith.backends.kernels import find_kernel, stop_group
    from bricksmith.backends.local_runner import adopt, attach

    result_file = sandbox.result_file
    pending = previous.get("_pending") and previous.get("_result") == str(result_file)
    kernel = find_kernel(previous.get("_kernel"), result_file)
    if kernel is None and previous.get("_pid"):  # recorded by an older bricksmith
        kernel = find_kernel({"pid": previous["_pid"], "start": None}, None)
    if kernel is not None and not (pending and previous.get("_fingerprint") == fingerprint):
        stop_group(kernel)
        log(f"stopped the kernel (pid {kernel.pid}) a killed apply left running: "
            "the run's inputs changed since")
        return None
    if not pending or previous.get("_fingerprint") != fingerprint:
        return None
    started_at = previous.get("_started_at")
    if kernel is not None:
        log(f"re-attaching to the notebook kernel (pid {kernel.pid}) a killed apply left running")
        return attach(kernel, result_file, log_path=log_path, started_at=started_at,
                      timeout=timeout_s, sandbox=sandbox, on_line=stream)
    result = adopt(result_file, log_path=log_path, started_at=started_at, sandbox=sandbox)
    if result is not None:
        log("adopted the result of the notebook run a killed apply started (not run again)")
    else:
        log("the notebook run a killed apply started ended without a result: running it again")
    return result


def _outcome(result, log_path: Path, details: dict[str, Any]) -> RunOutcome:
    if result.collected:  # metrics bricksmith's Kedro hooks found, with their sources
        details = {**details, "collected_metrics": result.collected}
    return RunOutcome(
        ok=result.ok,
        exit_value=result.exit_value,
        error=result.error,
        log_path=str(log_path),
        log_tail=result.log_tail,
        duration_s=result.duration_s,
        details=details,
    )

