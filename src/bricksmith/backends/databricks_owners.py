"""The databricks backend's records of which workflow uploads where (``backends.owners``):
read, written and dropped through databricks-sdk, on DBFS or a volume."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bricksmith.backends import owners

READ_SIZE = 1 << 20  # DBFS read answers at most 1 MB per call
UPLOAD_WORKERS = 32


class DatabricksOwners:
    """Mixed into ``DatabricksData`` (which gives ``client``, ``errors``, ``_list`` and
    ``_remove_file``)."""

    def _read_small(self, path: str) -> bytes | None:
        """A small file's bytes (a record: one call), None when it is gone."""
        from databricks.sdk import errors as sdk
        from databricks.sdk.service.files import DbfsAPI

        try:
            if path.startswith("/Volumes/"):
                with self.client.files.download(path).contents as body:
                    return body.read()
            return base64.b64decode(DbfsAPI.read(self.client.dbfs, path, length=READ_SIZE).data
                                    or "")
        except sdk.NotFound:
            return None

    def check_upload_owner(self, target: str, workflow: str) -> None:
        """Refuse (DataSyncError) a target that overlaps another workflow's upload target:
        one listing of the registry and one read per record in it. No probe can stand for
        it (None)."""
        from databricks.sdk import errors as sdk

        folder = owners.registry(target)
        with self.errors(f"read the upload records in {folder}"):
            try:
                paths = [p for p, is_dir, _s, _m in self._list(target, folder)
                         if not is_dir and p.endswith(".json")]
                with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
                    texts = list(pool.map(self._read_small, paths))
            except sdk.PermissionDenied:  # records nobody here may read: none to respect
                texts = []
        owners.refuse_others(target, workflow,
                             filter(None, (owners.parse(t) for t in texts if t)))
        return None

    def _write_owner(self, target: str, workflow: str, log: Callable[[str], None]) -> None:
        from databricks.sdk import errors as sdk

        path, text = owners.record_path(target), owners.record(target, workflow)
        try:
            if self._read_small(path) == text.encode():
                return
            if path.startswith("/Volumes/"):
                from databricks.sdk.service.files import FilesAPI

                FilesAPI(self.client.api_client).upload(path, io.BytesIO(text.encode()),
                                                        overwrite=True)
            else:
                self.client.dbfs.put(path, contents=base64.b64encode(text.encode()).decode(),
                                     overwrite=True)
        except sdk.PermissionDenied:
            log(f"could not record this workflow as the owner of {target} ({path}: permission "
                "denied): other workflows cannot see it")

    def _drop_owner(self, outputs: dict[str, Any]) -> None:
        path = owners.record_path(outputs["target"])
        text = self._read_small(path)
        found = owners.parse(text) if text else None
        if found and found["workflow"] == outputs.get("_workflow"):
            self._remove_file(outputs["target"], "", path=path)
