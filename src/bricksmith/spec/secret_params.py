"""Refuse parameters that take their value from the environment (``${env.NAME}``).

A value read from the environment is treated as a secret. Run params and ``project.params``
are not places for one:

- a run's params become the notebook job's parameters, which Databricks shows on the run page
  (Jobs API ``base_parameters``), and bricksmith records them in its state, its logs, ``status``,
  ``runs`` and the report;
- ``project.params`` are written to the project's ``conf/base`` parameters and committed to git.

So validation refuses them, located at the spec key, and says where secrets belong: read
inside the project (Kedro credentials with ``${oc.env:NAME}`` in ``conf/local/credentials.yml``,
``dbutils.secrets.get`` on Databricks, or an environment variable the project's code reads).
"""

from __future__ import annotations

from collections.abc import Iterable

from bricksmith.errors import Diagnostic
from bricksmith.spec.loader import Document
from bricksmith.spec.positions import KeyPath

__all__ = ["secret_param_diagnostics"]

_HINT = (
    "read the secret inside the project instead: Kedro credentials "
    "(conf/local/credentials.yml, `key: ${oc.env:NAME}`), dbutils.secrets.get(scope, key) on "
    "Databricks, or an environment variable the project's own code reads"
)


def secret_param_diagnostics(document: Document, env_paths: Iterable[KeyPath]) -> list[Diagnostic]:
    """One diagnostic per run param or ``project.params`` value that used ``${env.NAME}``
    (directly or through a variable), located at its key."""
    found = []
    for path in sorted(env_paths, key=lambda p: tuple(str(k) for k in p)):
        if _is_run_param(path):
            why = (
                "run params become the notebook job's parameters, which Databricks shows on the "
                "run page and bricksmith records in its state, logs and report"
            )
        elif path[:2] == ("project", "params"):
            why = (
                "project.params are written to the project's parameters file and committed to git"
            )
        else:
            continue
        found.append(document.diagnostic(
            path, f"a parameter may not take its value from the environment (${{env...}}): {why}",
            _HINT,
        ))
    return found


def _is_run_param(path: KeyPath) -> bool:
    return len(path) >= 3 and path[0] == "runs" and isinstance(path[1], int) and path[2] == "params"
