"""Which Git provider a Databricks Git folder's remote belongs to (a bottom module: no
bricksmith imports). Sources: databricks-sdk 0.162 ``service/workspace.py`` (the provider
names, ``ReposAPI.create``), Terraform provider ``repos/resource_repo.go``
(``GetGitProviderFromUrl``: exact host names; no guess for any other host; http(s) URLs only).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

PROVIDERS = (
    "gitHub",
    "gitHubEnterprise",
    "gitLab",
    "gitLabEnterpriseEdition",
    "bitbucketCloud",
    "bitbucketServer",
    "azureDevOpsServices",
    "awsCodeCommit",
)
KNOWN_HOSTS = {  # Terraform's GetGitProviderFromUrl: exact host names
    "github.com": "gitHub",
    "gitlab.com": "gitLab",
    "bitbucket.org": "bitbucketCloud",
    "dev.azure.com": "azureDevOpsServices",
}
CODECOMMIT = re.compile(r"^git-codecommit\.[^.]+\.amazonaws\.com$")
SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git", "git")
_SCP_LIKE = re.compile(r"^[^@/\s:]+@[^:/\s]+:(?!//)")


def provider_problem(remote: str, provider: str | None) -> tuple[str, str] | None:
    """(message, hint) when a Databricks Git folder cannot be made from ``remote`` with
    ``provider`` (``repo.provider``, may be None), else None. Local paths and ``file://`` URLs
    pass (the emulator clones them; a real workspace refuses them itself)."""
    split = urlsplit(remote)
    scheme = split.scheme.lower() if "://" in remote else ""
    if scheme in SSH_SCHEMES or (not scheme and _SCP_LIKE.match(remote)):
        return (
            f"remote {remote!r} is an SSH URL: Databricks Git folders clone over HTTPS only",
            "use the https:// URL of the repository (set repo.token_env for its token)",
        )
    if scheme in ("http", "https") and provider is None and known_provider(remote) is None:
        return (
            f"Databricks does not know the Git provider of {split.hostname}",
            f"set repo.provider to one of {', '.join(PROVIDERS)} (e.g. gitHubEnterprise for "
            "GitHub Enterprise, gitLabEnterpriseEdition for GitLab self-managed)",
        )
    return None


def known_provider(url: str) -> str | None:
    """The provider Databricks infers from the URL's host, or None for a host it does not
    know (Terraform's ``GetGitProviderFromUrl``: exact host names, no subdomains)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in KNOWN_HOSTS:
        return KNOWN_HOSTS[host]
    return "awsCodeCommit" if CODECOMMIT.match(host) else None
