"""The project's requirements on a Databricks cluster: installed once per requirement set.

A job run's notebook begins with a cell that installs the project's ``requirements.txt`` only
when the Python process lacks a requirement (``notebook.py``, ``INSTALL_CELL``). So that a re-run
finds everything installed, each run brings the requirement set with its compute:

- On an all-purpose cluster (``cluster_id``): the task's ``libraries`` hold
  ``{"requirements": <file>}``. databricks-sdk ``compute.Library.requirements``: "URI of the
  requirements.txt file to install. Only Workspace paths and Unity Catalog Volumes paths are
  supported" (``service/compute.py``, 0.162; Databricks Runtime 15.0+). A task library is
  installed on the cluster when the run starts and stays installed for later runs on it
  (Jobs API ``Task.libraries``: "the default value is an empty list"; the Libraries API lists
  them with ``libraries/cluster-status``).
- On serverless compute: nothing. A notebook task cannot carry a job environment: a
  workspace answers 400 INVALID_PARAMETER_VALUE "A task environment can not be provided for
  notebook task X. Please use the %pip magic command to install notebook-scoped Python
  libraries and Python wheel packages" (dbt-databricks issue 1009, 2025-09-29;
  terraform-provider-databricks issue 4388, 2025-01; dbt-databricks PR 938, 2025-02: "this
  doesn't work yet with serverless notebooks"). Nothing newer says otherwise: databricks-sdk's
  ``jobs.Environment`` is "jobs' environment for non-notebook task", and Databricks' bundle
  examples require ``environment_key`` only for Python script, Python wheel and dbt tasks (a
  serverless notebook's own dependencies are set in its Environment side pane or with %pip).
  So the run is submitted without one and the notebook's install cell installs the
  requirements on every run (each serverless run starts without them).

A library is known by its path, not by what the file says: a cluster that installed
``<file>`` does not install it again when the file changes, and a library cannot be removed
from a running cluster — ``libraries/uninstall``: "The libraries won't be uninstalled until the
cluster is restarted" (``LibrariesAPI.uninstall``), its status is then ``UNINSTALL_ON_RESTART``
(``LibraryInstallStatus``). Hence ``<file>`` is not the Git folder's ``requirements.txt`` but a
one-line file named by the requirement set's key, next to the run notebook::

    /Workspace/Users/<user>/.bricksmith/<workflow>/requirements/<key>.txt
        holding:  -r <Git folder>/requirements.txt

Unchanged requirements: the same file, already INSTALLED, nothing installed, Python not
restarted. Changed requirements: a new file, installed once on top of the running cluster's
libraries (pip upgrades or downgrades what it names; a package the new set dropped stays until
the cluster restarts: the earlier file is marked for uninstall, and the run's log says so).

The key covers the Git folder's ``requirements.txt`` and the files it includes with ``-r`` /
``-c`` (read back from the workspace, so it is what the cluster will install), not what an
unpinned requirement resolves to on the index today, nor the metadata of a local path package.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from collections.abc import Callable
from typing import Any

from bricksmith.backends.requirements_closure import _INCLUDE, _logical_lines

FOLDER = "requirements"  # next to the run notebook
KEY_CHARS = 16  # of the key's hex digest in the file's name
RECIPE = "bricksmith-dbx-requirements-v1"
MAX_INCLUDES = 50  # files read for one key (a loop of -r includes ends here)
MIN_RUNTIME = (15, 0)  # the first Databricks Runtime with requirements.txt cluster libraries


def _read(client, path: str) -> bytes | None:
    """The bytes of the workspace file at ``path`` (``/Workspace/...`` or API path), or None
    when it does not exist."""
    from databricks.sdk import errors as sdk
    from databricks.sdk.service.workspace import ExportFormat

    try:
        exported = client.workspace.export(path.removeprefix("/Workspace"),
                                           format=ExportFormat.SOURCE)
    except sdk.NotFound:
        return None
    return base64.b64decode(exported.content or "")


def requirement_set_key(client, requirements: str) -> str:
    """The sha256 hex key of the requirement set the workspace file ``requirements`` (a
    ``/Workspace/...`` path) asks for: its bytes and those of every file it includes with
    ``-r``/``-c`` (recursively; a missing include counts as missing). Raises SDK errors."""
    digest = hashlib.sha256(f"{RECIPE}\0".encode())
    seen: set[str] = set()
    pending = [posixpath.normpath(requirements)]
    while pending and len(seen) < MAX_INCLUDES:
        path = pending.pop(0)
        if path in seen:
            continue
        seen.add(path)
        data = _read(client, path)
        shown = b"\0missing\0" if data is None else data
        digest.update(f"{len(path)}:{path}\0{len(shown)}\0".encode() + shown)
        if data is None:
            continue
        for line in _logical_lines(data.decode("utf-8", errors="replace")):
            found = _INCLUDE.match(line)
            if found:
                pending.append(posixpath.normpath(posixpath.join(posixpath.dirname(path),
                                                                 found.group(1))))
    return digest.hexdigest()


def set_file(notebook: str, key: str) -> str:
    """The workspace path (``/Workspace/...``) of the file standing for requirement set
    ``key``, in the folder of the run notebook at ``notebook`` (an API path, ``/Users/...``)."""
    folder = posixpath.dirname(notebook.removeprefix("/Workspace"))
    return f"/Workspace{folder}/{FOLDER}/{key[:KEY_CHARS]}.txt"


def ensure_set_file(client, path: str, requirements: str) -> None:
    """Write the file ``path`` holding ``-r <requirements>`` unless it exists (a new key is a
    new file: an existing one already says this)."""
    from databricks.sdk import errors as sdk
    from databricks.sdk.service.workspace import ImportFormat

    api_path = path.removeprefix("/Workspace")
    try:
        client.workspace.get_status(api_path)
        return
    except sdk.NotFound:
        pass
    client.workspace.mkdirs(posixpath.dirname(api_path))
    content = f"# bricksmith: the requirement set of {requirements}\n-r {requirements}\n"
    client.workspace.import_(api_path, content=base64.b64encode(content.encode()).decode(),
                             format=ImportFormat.AUTO, overwrite=True)


def cluster_requirements(client, cluster_id: str) -> dict[str, str]:
    """``{requirements file: status}`` of the requirements libraries on the cluster
    (``libraries/cluster-status``; status one of PENDING, RESOLVING, INSTALLING, INSTALLED,
    FAILED, UNINSTALL_ON_RESTART, SKIPPED, RESTORED)."""
    found: dict[str, str] = {}
    for status in client.libraries.cluster_status(cluster_id):
        library = status.library
        if library is not None and library.requirements:
            found[library.requirements] = status.status.value if status.status else "PENDING"
    return found


def prepare(client, *, cluster_id: str | None, notebook: str, requirements: str,
            log: Callable[[str], None]) -> dict[str, Any]:
    """The requirement-set file of this run, written when new, and what the cluster holds:
    ``{"file", "key", "cluster_status"}``, ``cluster_status`` the file's status on the cluster
    before the run (None: not on it, so the run installs it; serverless: None). Earlier sets
    of this workflow still on the cluster are marked for uninstall (they go when the cluster
    restarts) and named in the log. Raises SDK errors."""
    from databricks.sdk.service.compute import Library

    key = requirement_set_key(client, requirements)
    path = set_file(notebook, key)
    ensure_set_file(client, path, requirements)
    answer: dict[str, Any] = {"file": path, "key": key, "cluster_status": None,
                              "as_library": True}
    if not cluster_id:
        return answer
    runtime = client.clusters.get(cluster_id).spark_version or ""
    if not supports_requirements(runtime):
        answer["as_library"] = False
        log(f"cluster {cluster_id} runs Databricks Runtime {runtime or '(unknown)'}: "
            f"requirements.txt cluster libraries need {MIN_RUNTIME[0]}.{MIN_RUNTIME[1]} or newer, "
            "so each run's notebook installs the requirements itself (%pip, then a Python "
            "restart); a newer runtime installs them once per cluster")
        return answer
    on_cluster = cluster_requirements(client, cluster_id)
    status = on_cluster.get(path)
    answer["cluster_status"] = status
    if status == "INSTALLED":
        log(f"cluster {cluster_id} has this requirement set installed ({path}): the run "
            "installs nothing")
    else:
        log(f"cluster {cluster_id} installs the requirement set {path} for this run "
            f"({status or 'not on the cluster yet'}); later runs reuse it")
    folder = posixpath.dirname(path) + "/"
    stale = [file for file, state in on_cluster.items()
             if file.startswith(folder) and file != path and state != "UNINSTALL_ON_RESTART"]
    if stale:
        client.libraries.uninstall(cluster_id, [Library(requirements=f) for f in stale])
        log(f"cluster {cluster_id} holds earlier requirement sets of this workflow "
            f"({', '.join(stale)}): marked for uninstall; packages they added and the new set "
            "does not name stay importable until the cluster restarts")
    return answer


def supports_requirements(spark_version: str) -> bool:
    """Whether a cluster of this ``spark_version`` (``15.4.x-scala2.12``) installs
    ``requirements`` libraries: Databricks Runtime 15.0+ ("Path to a requirements.txt file.
    Only supported on clusters running Databricks Runtime 15.0+", the Libraries API's Library
    schema; terraform-provider-databricks issue 3471: "DBR15's ability to support
    requirements.txt files"). An unreadable version is taken as new enough."""
    found = re.match(r"^(\d+)\.(\d+)", spark_version or "")
    return found is None or (int(found.group(1)), int(found.group(2))) >= MIN_RUNTIME


def task_libraries(prepared: dict[str, Any]) -> list | None:
    """The task's ``libraries`` on a cluster: the requirement set's file (None when the
    cluster's runtime cannot install requirements files)."""
    from databricks.sdk.service.compute import Library

    if not prepared.get("as_library", True):
        return None
    return [Library(requirements=prepared["file"])]


