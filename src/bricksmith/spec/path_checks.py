"""What makes a path in a spec unusable: absolute or '~' where it must be relative to the
spec's folder, leaving the folder it must stay inside, a DBFS or Volumes target without its
parts. Each returns the problem in words (None: none), for :mod:`.checks` to report.
"""

from __future__ import annotations

import ntpath
import posixpath
import re


def _is_absolute(path: str) -> bool:
    return posixpath.isabs(path) or bool(ntpath.splitdrive(path)[0]) or path.startswith("\\")


def local_path_problem(path: str) -> str | None:
    """Problems of a path that must be relative to the spec folder (it may use '..')."""
    if path.startswith("~"):
        return "starts with '~', which is not expanded"
    if _is_absolute(path):
        return "is absolute; it must be relative to the spec file's folder"
    return None


_PLAIN_RELATIVE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_\-./]*")  # no '~', '\\', ':', leading '/'


def inside_problem(path: str) -> str | None:
    """Problems of a path that must stay inside its folder (relative, no escaping '..')."""
    if _PLAIN_RELATIVE.fullmatch(path) and ".." not in path:
        return None  # the common case, decided without normalizing
    problem = local_path_problem(path)
    if problem:
        return problem.replace("spec file's folder", "project")
    normalized = posixpath.normpath(path.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        return "leaves the project folder ('..'); it must stay inside the project"
    return None


def dbfs_target_problem(target: str) -> str | None:
    if target.startswith("dbfs:/"):
        rest, minimum, shape = target[len("dbfs:/"):], 1, "a folder under dbfs:/"
    else:
        rest, minimum, shape = target[len("/Volumes/"):], 3, "catalog, schema and volume"
    segments = rest.rstrip("/").split("/") if rest.rstrip("/") else []
    if any(seg in ("..", ".") for seg in segments):
        return "'.' and '..' segments are not allowed"
    if any(seg == "" for seg in segments):
        return "empty path segment ('//')"
    if len(segments) < minimum:
        return f"needs {shape}"
    return None
