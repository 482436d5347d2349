"""Git folders (Repos API) and Git credentials on a Databricks workspace, for the databricks
backend (``databricks.py`` delegates here; databricks-sdk is imported lazily).

What a real workspace does, and what this module does about it (sources: databricks-sdk 0.162
``service/workspace.py``, Terraform provider ``repos/resource_repo.go``; see
/work/shared/DATABRICKS-FACTS.md):

- ``repos.create`` needs the parent folder: ``/Repos/<user>`` exists only once the user opened
  the UI, so the parent is created with ``workspace/mkdirs`` first (as Terraform does).
- A Git folder is found by path with ``workspace/get-status`` (object type ``REPO``; its
  ``resource_id`` is the repo id), not with the deprecated ``GET /repos`` list, which omits
  Git folders that have the Git CLI enabled.
- A create that fails can leave a half-made folder behind: it is deleted (it did not exist
  before the call), and the error is reported.
- The provider is never guessed for a host Databricks does not know (``GetGitProviderFromUrl``
  knows github.com, gitlab.com, bitbucket.org, dev.azure.com and AWS CodeCommit); SSH URLs are
  refused (the API clones over HTTPS only).
- Credentials: the one of the remote's provider is used (its default, else the only one), one
  is created when there is none; a credential of another provider is never modified.
- A pull keeps uncommitted changes in the folder (or fails on a conflict) unless
  ``dangerously_force_discard_all``. The API has no "git status": edits are found with the
  Workspace API (:mod:`bricksmith.backends.databricks_edits`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

from bricksmith.errors import BackendError, GitError
from bricksmith.gitproviders import known_provider, provider_problem


def provider_for(url: str, explicit: str | None) -> str:
    """The provider to send for ``url``: ``explicit`` (repo.provider) first. Raises GitError
    for an SSH URL or an unknown host without ``explicit``."""
    problem = provider_problem(url, explicit)
    if problem:
        raise GitError(problem[0], hint=problem[1])
    if explicit:
        return explicit
    # local paths and file:// URLs reach only the emulator; it needs some provider
    return known_provider(url) or "gitHub"


# -- credentials ---------------------------------------------------------------------------


def ensure_credential(client, provider: str, token: str, git: Mapping[str, Any],
                      log: Callable[[str], None]) -> int:
    """The id of the current user's credential for ``provider``, its token set to ``token``:
    the provider's default credential (else its only one) is updated, else one is created.
    Credentials of other providers are left alone. ``git``: git_username / git_email."""
    same = [c for c in client.git_credentials.list()
            if (c.git_provider or "").lower() == provider.lower()]
    chosen = next((c for c in same if c.is_default_for_provider), same[0] if len(same) == 1
                  else None)
    if same and chosen is None:
        names = ", ".join(c.name or str(c.credential_id) for c in same)
        raise BackendError(
            f"the workspace user has {len(same)} Git credentials for {provider} ({names}) and "
            "none is the default for it",
            hint="mark one as the default for the provider (Settings → Linked accounts), "
            "then apply again",
        )
    fields = {k: git[k] for k in ("git_username", "git_email") if git.get(k)}
    if not fields.get("git_email") and provider != "awsCodeCommit":
        log(f"note: the {provider} Git credential has no git_email; Databricks documents it as "
            "required for most providers: set repo.git_email if cloning fails")
    if chosen is not None:
        client.git_credentials.update(chosen.credential_id, git_provider=provider,
                                      personal_access_token=token, **fields)
        return chosen.credential_id
    created = client.git_credentials.create(git_provider=provider, personal_access_token=token,
                                            **fields)
    return created.credential_id


# -- finding, creating -----------------------------------------------------------------------


def find(client, api_path: str):
    """The Git folder at ``api_path`` (a RepoInfo), or None when nothing is there. Raises
    BackendError when something else (a folder, a notebook) is there."""
    from databricks.sdk import errors as sdk
    from databricks.sdk.service.workspace import ObjectType

    try:
        status = client.workspace.get_status(api_path)
    except sdk.NotFound:
        return None
    if status.object_type != ObjectType.REPO:
        kind = status.object_type.value.lower() if status.object_type else "object"
        raise BackendError(
            f"{api_path} is a {kind} in the workspace, not a Git folder",
            hint="move it away, or choose another place with targets.<name>.git_folder_parent",
        )
    repo_id = int(status.resource_id or status.object_id)
    return client.repos.get(repo_id)


def create(client, *, url: str, provider: str, api_path: str, credential_id: int | None):
    """Create the Git folder (its parent first). A failed create's half-made folder is
    deleted; a create that lost a race adopts the folder made meanwhile."""
    from databricks.sdk import errors as sdk

    client.workspace.mkdirs(str(PurePosixPath(api_path).parent))
    options = {"git_credential_id": credential_id} if credential_id else {}
    try:
        made = client.repos.create(url=url, provider=provider, path=api_path, **options)
    except sdk.ResourceAlreadyExists:
        return find(client, api_path)
    except sdk.DatabricksError:
        _remove_half_made(client, api_path)
        raise
    return client.repos.get(made.id)


def _remove_half_made(client, api_path: str) -> None:
    from databricks.sdk import errors as sdk
    from databricks.sdk.service.workspace import ObjectType

    try:
        status = client.workspace.get_status(api_path)
        if status.object_type == ObjectType.REPO:
            client.repos.delete(int(status.resource_id or status.object_id))
        else:
            client.workspace.delete(api_path, recursive=True)
    except sdk.DatabricksError:
        pass  # nothing there, or not ours to remove: the create's own error is reported
