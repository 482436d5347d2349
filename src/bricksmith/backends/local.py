"""The embedded local backend: a Databricks workspace emulated under the target's root.

    <root>/Workspace/Repos/<user>/<name>   workspace repos (real git clones of the remote)
    <root>/Workspace/Users/<user>/...      deployed notebooks (Databricks SOURCE .py files)
    <root>/dbfs/X                          DBFS: dbfs:/X, which notebooks see as /dbfs/X
    <root>/Volumes/<c>/<s>/<v>/...         Unity Catalog volumes

Runs execute the deployed notebook cell by cell in an IPython shell inside an isolated
environment built from the repo's requirements.txt and cached by its hash (the "cluster").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from bricksmith.backends import filesync
from bricksmith.backends import git as gitops
from bricksmith.backends.base import Removal, RunOutcome
from bricksmith.backends.local_data import TMP_SUFFIX, LocalData
from bricksmith.cachedir import default_cache_dir
from bricksmith.errors import BackendError


class LocalBackend(LocalData):
    name = "local"

    def __init__(self, root: Path, user: str, cache_dir: Path | None = None) -> None:
        self.root = root
        self.user = user
        self.cache_dir = cache_dir or default_cache_dir()

    def describe(self) -> str:
        return f"local workspace at {self.root}"

    def preflight(self) -> None:
        """Nothing to check: the emulated workspace is created on first use."""

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
        self, *, name: str, location: str, branch: str, commit: str, token_env: str | None
    ) -> dict[str, Any]:
        dest = Path(self.repo_path(name))
        head = gitops.sync_clone(
            location, dest, branch=branch, commit=commit, token_env=token_env
        )
        return {"path": str(dest), "branch": branch, "commit": head}

    def repo_drift(self, outputs: dict[str, Any]) -> list[str]:
        head, changed = gitops.clone_state(Path(outputs["path"]))
        if head is None:
            return [f"workspace repo {outputs['path']} is missing"]
        reasons = []
        if head != outputs["commit"]:
            reasons.append(f"workspace repo is at {head[:10]}, not {outputs['commit'][:10]}")
        if changed:
            reasons.append(f"workspace repo has local changes: {', '.join(changed[:5])}")
        return reasons

    def repo_probes(self, outputs: dict[str, Any]) -> list | None:
        return gitops.worktree_probes(Path(outputs["path"]), untracked=False)

    # -- DBFS and volumes: upload, upload_drift, upload_probes, remove_upload (LocalData) --

    # -- notebooks -------------------------------------------------------------------------

    def deploy_notebook(self, path: str, source: str) -> dict[str, Any]:
        file = Path(path + ".py")
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(file.name + TMP_SUFFIX)
        tmp.write_text(source)
        os.replace(tmp, file)
        return {"path": path, "file": str(file), "sha256": filesync.file_sha256(file)}

    def notebook_drift(self, outputs: dict[str, Any]) -> list[str]:
        file = Path(outputs["file"])
        if not file.is_file():
            return [f"notebook {outputs['path']} is missing"]
        if filesync.file_sha256(file) != outputs["sha256"]:
            return [f"notebook {outputs['path']} was edited in the workspace"]
        return []

    def notebook_probes(self, outputs: dict[str, Any]) -> list | None:
        from bricksmith.plan.probes import observe_all

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
    ) -> RunOutcome:
        from bricksmith.backends.local_runner import run_notebook, stop_orphan
        from bricksmith.backends.run_sandbox import RunSandbox
        from bricksmith.backends.runtime_env import ensure_environment

        if stop_orphan(previous.get("_pid")):
            log(f"stopped the kernel (pid {previous['_pid']}) a killed apply left running")
        log_dir.mkdir(parents=True, exist_ok=True)
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
        log_path = log_dir / f"{run_name}.log"
        details = {"environment": env.key[:16], "environment_built": env.built}

        def started(pid: int) -> None:
            checkpoint({"_pid": pid, "_log": str(log_path)})

        result = run_notebook(
            Path(notebook + ".py"),
            python=env.python,
            widgets=widgets,
            requirements_key=env.key,
            log_path=log_path,
            workdir=Path(notebook).parent,
            timeout=timeout_s,
            on_start=started,
            sandbox=RunSandbox.under(self.root, run_name),
            on_line=stream,
        )
        if result.collected:  # metrics bricksmith's Kedro hooks found, with their sources
            details["collected_metrics"] = result.collected
        return RunOutcome(
            ok=result.ok,
            exit_value=result.exit_value,
            error=result.error,
            log_path=str(log_path),
            log_tail=result.log_tail,
            duration_s=result.duration_s,
            details=details,
        )


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
