"""The databricks backend's run notebook in the workspace (Workspace API): importing it as
SOURCE, its drift and edits made in the workspace (by a digest of its source), and removing it
with bricksmith's folder."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from pathlib import PurePosixPath
from typing import Any

from bricksmith.backends.base import Removal


class DatabricksNotebooks:
    """Mixed into ``DatabricksBackend`` (which gives ``client``, ``errors`` and ``user``)."""

    # -- notebooks -------------------------------------------------------------------------------

    def notebook_path(self, workflow: str) -> str:
        return f"/Users/{self.user}/.bricksmith/{workflow}/run"

    def deploy_notebook(self, path: str, source: str) -> dict[str, Any]:
        from databricks.sdk.service.workspace import ImportFormat, Language

        with self.errors(f"import the notebook {path}"):
            self.client.workspace.mkdirs(str(PurePosixPath(path).parent))
            self.client.workspace.import_(
                path,
                content=base64.b64encode(source.encode()).decode(),
                format=ImportFormat.SOURCE,
                language=Language.PYTHON,
                overwrite=True,
            )
        return {"path": path, "sha256": _source_digest(source)}

    def notebook_drift(self, outputs: dict[str, Any]) -> list[str]:
        text = self._notebook_source(outputs)
        if text is None:
            return [f"notebook {outputs['path']} is missing"]
        if _source_digest(text.decode(errors="replace")) != outputs["sha256"]:
            return [f"notebook {outputs['path']} was edited in the workspace"]
        return []

    def notebook_edited(self, outputs: dict[str, Any]) -> bytes | None:
        """The deployed notebook's SOURCE when it was edited in the workspace since apply
        deployed it (None: as deployed, or gone)."""
        text = self._notebook_source(outputs)
        if text is None or _source_digest(text.decode(errors="replace")) == outputs["sha256"]:
            return None
        return text

    def _notebook_source(self, outputs: dict[str, Any]) -> bytes | None:
        from databricks.sdk import errors as sdk
        from databricks.sdk.service.workspace import ExportFormat

        with self.errors(f"read the notebook {outputs['path']}"):
            try:
                exported = self.client.workspace.export(outputs["path"], format=ExportFormat.SOURCE)
            except sdk.NotFound:
                return None
        return base64.b64decode(exported.content or "")

    def _exists(self, path: str) -> bool:
        from databricks.sdk import errors as sdk

        try:
            self.client.workspace.get_status(path)
        except sdk.NotFound:
            return False
        return True

    def notebook_exists(self, outputs: dict[str, Any]) -> bool:
        with self.errors(f"read the notebook {outputs['path']}"):
            return self._exists(outputs["path"])

    def remove_notebook(self, outputs: dict[str, Any]) -> Removal:
        from databricks.sdk import errors as sdk

        path = PurePosixPath(outputs["path"])
        ours = path.parent.parent.name == ".bricksmith"  # .bricksmith/<workflow>/run
        doomed = str(path.parent) if ours else str(path)
        with self.errors(f"delete the notebook {path}"):
            existed = self._exists(str(path))
            with contextlib.suppress(sdk.NotFound):
                self.client.workspace.delete(doomed, recursive=ours)
            if ours:  # the .bricksmith folder too, once no workflow is left in it
                dot = str(path.parent.parent)
                with contextlib.suppress(sdk.NotFound, sdk.BadRequest):
                    if not list(self.client.workspace.list(dot)):
                        self.client.workspace.delete(dot)
        return Removal(removed=int(existed))


def _source_digest(text: str) -> str:
    """Digest of a notebook's source, insensitive to trailing whitespace a workspace may add."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
