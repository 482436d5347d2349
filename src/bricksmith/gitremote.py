"""Where the project's git remote is, as git sees it, and who commits: owned by no layer.

The spec's rule for telling a git URL (``scheme://...`` or ``[user@]host:path``) from a local
path, which the spec's checks apply; a remote's location (URLs unchanged, local paths made
absolute against the spec's folder) and the folder of a local remote; the commit
:class:`Identity`. Compiling the spec into steps, the git steps, the git backend and
``destroy`` all read these, so none of them imports another for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

GIT_URL_SCHEMES = ("https", "http", "ssh", "git", "file", "git+ssh", "ssh+git")
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# scp-like syntax: user@host:path (bricksmith's git backend needs the user@ to tell it from a
# local path; git@github.com:me/x.git)
SCP_LIKE = re.compile(r"^[^@/\s:]+@[A-Za-z0-9][A-Za-z0-9.-]*:(?!//)[^\s]+$")


def is_git_url(text: str) -> bool:
    """True for a URL git understands as remote: scheme URLs and ``[user@]host:path``."""
    match = URL_SCHEME.match(text)
    if match:
        return match.group(1).lower() in GIT_URL_SCHEMES
    return bool(SCP_LIKE.match(text))


def is_url(remote: str) -> bool:
    """A URL (scheme:// or user@host:path) rather than a local path; the spec's own rule."""
    return is_git_url(remote)


def remote_location(remote: str, base_dir: Path) -> str:
    """The remote as git sees it: URLs unchanged, local paths made absolute."""
    if is_url(remote):
        return remote
    return str((base_dir / remote).resolve())


def local_remote_path(location: str) -> Path | None:
    """The folder of a local remote (a path or file:// URL), else None."""
    if location.startswith("file://"):
        return Path(location[len("file://") :])
    if is_url(location):
        return None
    return Path(location)


@dataclass(frozen=True)
class Identity:
    """Who bricksmith's commits name as author and committer (the spec's ``repo.author_name``
    and ``repo.author_email``)."""

    name: str
    email: str

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }
