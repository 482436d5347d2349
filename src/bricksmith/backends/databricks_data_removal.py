"""The databricks backend's removal of uploaded data folders (``destroy``, an upload taken out
of the spec): the recorded files and leftover temporary copies deleted on DBFS or a volume, then
the folders no file is left in (never a volume's root nor a top folder of DBFS), then the
workflow's owner record; files bricksmith did not write are left and counted."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any

from bricksmith.backends.base import Removal
from bricksmith.backends.databricks_data import TMP_MARKER, UPLOAD_WORKERS


class DatabricksDataRemoval:
    """Mixed into ``DatabricksBackend`` (which gives ``client``, ``errors``, ``_api_path``,
    ``_remote_tree`` and ``_drop_owner``)."""

    def _upload_files(self, outputs: dict[str, Any]) -> tuple[list[str], dict, list[str]]:
        """The recorded (or temporary) files of the upload there now, every file, folders."""
        there, folders = self._remote_tree(outputs["target"], outputs.get("_manifest", {}))
        ours = [rel for rel in outputs.get("_manifest", {}) if rel in there]
        return ours + [rel for rel in there if TMP_MARKER in rel], there, folders

    def uploaded_present(self, outputs: dict[str, Any]) -> int:
        with self.errors(f"list {outputs['target']}"):
            return len(self._upload_files(outputs)[0])

    def _remove_file(self, target: str, rel: str, *, path: str | None = None) -> None:
        from databricks.sdk import errors as sdk
        from databricks.sdk.service.files import DbfsAPI

        path = path or self._api_path(target, rel)
        with contextlib.suppress(sdk.NotFound):
            if target.startswith("/Volumes/"):
                self.client.files.delete(path)
            else:  # the plain call: the client's dbfs.delete first asks for the status
                DbfsAPI.delete(self.client.dbfs, path)

    def _remove_folder(self, target: str, folder: str) -> bool:
        """Delete the empty ``folder``; False when it is not empty after all (or not ours)."""
        from databricks.sdk import errors as sdk
        from databricks.sdk.service.files import DbfsAPI

        volume = target.startswith("/Volumes/")
        # never a volume's root (/Volumes/c/s/v) nor a top folder of DBFS (/FileStore, /mnt)
        if len(PurePosixPath(folder).parts) <= (5 if volume else 2):
            return False
        try:
            if volume:
                self.client.files.delete_directory(folder)
            else:
                DbfsAPI.delete(self.client.dbfs, folder, recursive=False)
        except sdk.NotFound:
            return True
        except sdk.DatabricksError:  # not empty: someone else wrote there meanwhile
            return False
        return True

    def remove_upload(self, outputs: dict[str, Any]) -> Removal:
        target = outputs["target"]
        with self.errors(f"remove the files uploaded to {target}"):
            doomed, there, folders = self._upload_files(outputs)
            with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
                for future in [pool.submit(self._remove_file, target, rel) for rel in doomed]:
                    future.result()
            gone = set(doomed)
            left = sorted(rel for rel in there if rel not in gone)
            # folders (deepest first, the destination last) that no file is left in
            for rel in sorted(folders, key=lambda f: f.count("/"), reverse=True) + ["."]:
                prefix = "" if rel == "." else rel + "/"
                if not any(f.startswith(prefix) for f in left):
                    self._remove_folder(target, self._api_path(target, "" if rel == "." else rel))
            self._drop_owner(outputs)
        return Removal(removed=len(doomed), left=left)

