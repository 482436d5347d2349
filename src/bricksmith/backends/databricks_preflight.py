"""Preflight of a Databricks target: the workspace answers with these credentials, and the
cluster the runs use exists.

With the network (apply), :meth:`DatabricksBackend.preflight` asks the workspace itself: a TCP
probe of the host (seconds; DNS and refused connections named as such), current-user/me with a
short retry budget (401/403 named as credentials, 429/503 as throttling), clusters/get when
runs will start. Without it (plan), only the configuration is read: a host, the profile named,
and some source of credentials (databricks-sdk's environment variables, the profile's keys, the
CLI's token cache); no false alarm where the SDK could still find credentials (Azure CLI).
"""

from __future__ import annotations

import configparser
import contextlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bricksmith.errors import BackendError, Problem

if TYPE_CHECKING:
    from bricksmith.backends.databricks import DatabricksBackend

# databricks-sdk's Config attributes read from the environment that are credentials
# (databricks/sdk/config.py ConfigAttribute(env=...))
CREDENTIAL_ENV = (
    "DATABRICKS_TOKEN", "DATABRICKS_CLIENT_ID", "DATABRICKS_USERNAME", "DATABRICKS_AUTH_TYPE",
    "DATABRICKS_AZURE_RESOURCE_ID", "DATABRICKS_GOOGLE_SERVICE_ACCOUNT", "GOOGLE_CREDENTIALS",
    "DATABRICKS_METADATA_SERVICE_URL", "DATABRICKS_OIDC_TOKEN_ENV",
    "DATABRICKS_OIDC_TOKEN_FILEPATH", "ARM_CLIENT_ID", "ARM_USE_MSI",
)


def workspace_problems(backend: DatabricksBackend, target: str, *, network: bool, runs: bool,
                       environ: Mapping[str, str]) -> list[Problem]:
    """What stops apply from working in the workspace of ``backend`` (target ``target``).
    ``network``: ask the workspace (else read the configuration only); ``runs``: runs will
    start, so the cluster must exist."""
    where = f"target {target}"
    if not network:
        return config_problems(backend, where, environ)
    try:
        backend.preflight(runs=runs)
    except BackendError as exc:
        return [Problem(exc.message, where, exc.hint or "check the target's host and "
                        "credentials")]
    return []


def config_problems(backend: DatabricksBackend, where: str,
                    environ: Mapping[str, str]) -> list[Problem]:
    """A workspace apply could not even ask: no host, a profile the config file lacks, no
    credentials anywhere. Reads no network."""
    config = _config_file(environ)
    profile = backend.profile or environ.get("DATABRICKS_CONFIG_PROFILE")
    section = profile or "DEFAULT"
    if profile and not config.has_section(profile) and profile != "DEFAULT":
        return [Problem(f"profile {profile} is not in the Databricks config file",
                        f"{where} (profile)",
                        f"run `databricks auth login --profile {profile} --host <workspace "
                        "URL>`, or fix the profile name")]
    host = backend.workspace_url()
    if not host:
        return [Problem("no Databricks host is configured", f"{where} (host)",
                        f"set targets.{where.removeprefix('target ')}.host to the workspace "
                        "URL, or export DATABRICKS_HOST")]
    keys = set(config[section]) if config.has_section(section) or section == "DEFAULT" else set()
    if any(environ.get(name) for name in CREDENTIAL_ENV) or keys - {"host"}:
        return []
    if (Path.home() / ".databricks" / "token-cache.json").is_file():
        return []  # `databricks auth login` (U2M OAuth)
    if "azuredatabricks.net" in host and shutil.which("az"):
        return []  # the SDK may use the Azure CLI's login
    return [Problem(f"no Databricks credentials found for {host}", f"{where} (credentials)",
                    backend._login_hint())]


def config_path(environ: Mapping[str, str]) -> Path:
    """The Databricks config file databricks-sdk reads (``~/.databrickscfg`` by default)."""
    return Path(environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def _config_file(environ: Mapping[str, str]) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    with contextlib.suppress(OSError, configparser.Error):
        parser.read(config_path(environ))
    return parser

