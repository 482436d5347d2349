"""What a backend offers the steps: a workspace, DBFS, notebooks and runs.

Paths "as notebooks see them" are the strings a notebook running in that workspace uses:
``/Workspace/Repos/...`` and ``/dbfs/...`` on Databricks, folders under the target root on the
local backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class RunOutcome:
    ok: bool
    exit_value: str | None = None
    error: str | None = None
    log_path: str | None = None
    log_tail: str = ""
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # backend specifics: env, run id, URL


@dataclass
class Removal:
    """What a ``remove_*`` call did: objects deleted, and what it left in place (not
    bricksmith's: files others wrote next to the uploaded ones)."""

    removed: int = 0
    left: list[str] = field(default_factory=list)


class Backend(Protocol):
    name: str

    def describe(self) -> str:
        """One line for messages: which workspace this is."""

    def preflight(self, *, runs: bool = False) -> None:
        """Check the workspace can be reached (credentials, host) before anything changes;
        ``runs``: runs will start, so the compute they use must exist. Raises
        :class:`bricksmith.errors.BackendError` (what, where, how to fix)."""

    # -- workspace repos -----------------------------------------------------------------
    def repo_path(self, name: str) -> str:
        """Where the workspace repo ``name`` lives, as notebooks see it."""

    def sync_repo(
        self, *, name: str, location: str, branch: str, commit: str, token_env: str | None,
        git: dict[str, Any] | None = None, project: Path | None = None,
        log: Callable[[str], None] = ..., previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create or update the workspace repo so ``branch`` is checked out at ``commit``.
        ``git``: repo.provider / git_username / git_email (Databricks); ``project``: the local
        project, whose history tells uncommitted changes in the workspace repo apart;
        ``previous``: what the last sync returned. Edits in the folder are discarded after a
        copy of each file the commit lacks is kept (``_kept``, ``_kept_files``): callers
        refuse edits the user did not agree to discard before calling."""

    def repo_drift(self, outputs: dict[str, Any], project: Path | None = None) -> list[str]:
        """Why the workspace repo no longer matches ``outputs`` ([] when it does)."""

    def repo_probes(self, outputs: dict[str, Any]) -> list | None:
        """Probes (``bricksmith.observations``) standing for ``repo_drift``; None: none can."""
        ...

    # optional (a backend without them shows no edits; ``pull`` refuses on it; both backends
    # have them):
    #   repo_edits(outputs) -> [{"path", "change": modified|added|removed, "diff", "base"}]
    #       the files edited in the Git folder since its commit ``base``, with unified diffs;
    #   repo_file(outputs, path) -> bytes | None: that file as the Git folder holds it now.

    # -- DBFS / volumes --------------------------------------------------------------------

    def data_path(self, target: str) -> str:
        """``dbfs:/X`` or ``/Volumes/...`` as notebooks see it (``/dbfs/X`` on Databricks)."""

    def upload(
        self,
        source: Path,
        target: str,
        previous: dict[str, Any],
        log: Callable[[str], None],
        *,
        within: Path | None = None,
        checkpoint: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Copy the ``source`` folder to ``target``, skipping what is unchanged since
        ``previous`` (the outputs of the last upload). Files land whole, verified, or not at
        all. Symlinks are followed while they stay inside ``within`` (the project), else
        refused (DataSyncError naming them). When ``previous`` went to another target, what it
        wrote there is removed first. ``checkpoint`` receives what the upload may write
        before it writes it (so destroy can find an interrupted upload's files)."""

    def upload_drift(
        self, source: Path, outputs: dict[str, Any], *, within: Path | None = None
    ) -> list[str]:
        """What changed since the upload recorded in ``outputs`` (source or target side):
        content, not size alone (a copy whose modification time moved is compared by
        checksum)."""

    # -- notebooks and runs ----------------------------------------------------------------
    def upload_probes(
        self, source: Path, outputs: dict[str, Any], *, within: Path | None = None
    ) -> list | None:
        """Probes standing for ``upload_drift``; None: none can."""
        ...

    def notebook_path(self, workflow: str) -> str:
        """Where the workflow's notebook is deployed, as the workspace names it."""

    def deploy_notebook(self, path: str, source: str) -> dict[str, Any]:
        """Import ``source`` (Databricks SOURCE format, Python) at ``path``, overwriting."""

    def notebook_drift(self, outputs: dict[str, Any]) -> list[str]:
        """Why the deployed notebook no longer matches ``outputs``."""

    def notebook_probes(self, outputs: dict[str, Any]) -> list | None:
        """Probes standing for ``notebook_drift``; None: none can."""
        ...

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
        """Run the notebook once with ``widgets`` and wait for it. A backend whose runs outlive
        the apply checkpoints the run's id and, given the same ``fingerprint`` in ``previous``,
        re-attaches to it instead of starting another. ``stream``: given each line the run
        logs as it logs it, where the backend can (a job run's output arrives at its end).
        ``log_path``: this execution's log file (``bricksmith.run_logs``); default
        ``log_dir/<run_name>.log``."""

    # -- destroy: what apply made, as the outputs of its steps recorded it -----------------
    def repo_exists(self, outputs: dict[str, Any]) -> bool:
        """Whether the workspace repo recorded in ``outputs`` (workspace.repo) is there."""

    def remove_repo(self, outputs: dict[str, Any]) -> Removal:
        """Delete that workspace repo (never its git remote); already gone is success."""

    def notebook_exists(self, outputs: dict[str, Any]) -> bool:
        """Whether the notebook recorded in ``outputs`` (notebook.deploy) is there."""

    def remove_notebook(self, outputs: dict[str, Any]) -> Removal:
        """Delete the notebook and its folder ``.bricksmith/<workflow>``."""

    def uploaded_present(self, outputs: dict[str, Any]) -> int:
        """How many files of the upload recorded in ``outputs`` (its manifest, plus temporary
        files of an interrupted upload) are at its destination."""

    def remove_upload(self, outputs: dict[str, Any]) -> Removal:
        """Delete those files, then the folders under the destination (and the destination
        itself) that this leaves empty. Files bricksmith did not write are left."""
