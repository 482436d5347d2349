"""What makes a git value in a spec unusable: a remote URL git cannot use or that holds a
credential, a host name without a scheme, a branch name git refuses; and what a folder is to
git (a repository, bare or not; a repository of starters). Each problem comes back as
(message, hint) or words (None: none), for :mod:`.checks` to report.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from bricksmith.gitremote import GIT_URL_SCHEMES, SCP_LIKE, URL_SCHEME
from bricksmith.pathfacts import path_kind
from bricksmith.redact import redact

# host:path without a user, with a host name that looks like a domain (github.com:me/x.git)
_SCP_NO_USER = re.compile(r"^((?:[a-z0-9-]+\.)+[a-z]{2,}):(?!//)\S+$", re.IGNORECASE)
_HOSTNAME = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}$", re.IGNORECASE)


def is_bare_repository(path: Path, kind: Callable[[Path], str] = path_kind) -> bool:
    return kind(path / "HEAD") == "file" and kind(path / "objects") == "dir"


def is_git_repository(path: Path, kind: Callable[[Path], str] = path_kind) -> bool:
    return is_bare_repository(path, kind) or kind(path / ".git") != "missing"


def starters_in(folder: Path) -> list[str]:
    """The starters (folders with a cookiecutter.json) one level inside ``folder``."""
    try:
        return sorted(p.name for p in folder.iterdir() if (p / "cookiecutter.json").is_file())
    except OSError:
        return []


def starters_hint(folder: Path) -> str | None:
    """A hint naming the starters one level inside ``folder`` (a repository of starters)."""
    found = starters_in(folder)
    if not found:
        return None
    return f"starters in it: {', '.join(found[:10])}; name one with starter_directory"


def git_url_problem(url: str, *, allow_pip_prefix: bool = False) -> tuple[str, str] | None:
    """(message, hint) when a scheme/scp-like URL is unusable as a git remote.

    ``allow_pip_prefix``: accept ``git+https://`` (starters, like pip; git itself does not).
    """
    match = URL_SCHEME.match(url)
    if not match:
        return None  # scp-like: user@host:path
    scheme = match.group(1).lower()
    if allow_pip_prefix and scheme.startswith("git+"):
        scheme = scheme[len("git+"):]
    if scheme not in GIT_URL_SCHEMES:
        close = difflib.get_close_matches(scheme, GIT_URL_SCHEMES, n=1)
        return (f"unsupported URL scheme {scheme!r}",
                (f"did you mean {close[0]}://? " if close else "")
                + "git URLs use " + ", ".join(f"{s}://" for s in GIT_URL_SCHEMES))
    split = urlsplit(url)
    if split.password is not None:
        return ("the URL contains a password or token",
                "never put secrets in the spec: remove it from the URL and set "
                "repo.token_env to the name of an environment variable holding the token")
    if scheme != "file" and not split.hostname:
        return ("the URL has no host", f"write {scheme}://host/path")
    if split.path in ("", "/"):
        return ("the URL has no repository path", f"write {scheme}://host/owner/repo.git")
    return None


def remote_problem(
    remote: str, base_dir: Path, kind: Callable[[Path], str] = path_kind
) -> tuple[str, str] | None:
    example = "https://github.com/me/project.git, git@github.com:me/project.git or ../project.git"
    if remote != remote.strip() or any(ch.isspace() for ch in remote):
        return (f"remote {remote!r} contains whitespace", f"write a git URL such as {example}")
    if URL_SCHEME.match(remote):
        problem = git_url_problem(remote) or _credential_problem(remote)
        return (f"remote {redact(remote)!r}: {problem[0]}", problem[1]) if problem else None
    if SCP_LIKE.match(remote):
        return None
    no_user = _SCP_NO_USER.match(remote)
    if no_user and kind(base_dir / no_user.group(1)) == "missing":
        return (f"remote {remote!r} looks like an ssh URL without a user",
                f"write git@{remote} (or https://{no_user.group(1)}/"
                f"{remote.split(':', 1)[1]})")
    if remote.startswith("~"):
        return (f"remote {remote!r}: '~' is not expanded",
                "give the local repository path relative to the spec file's folder")
    first = remote.replace("\\", "/").split("/", 1)[0]
    if "/" in remote and _HOSTNAME.match(first) and kind(base_dir / first) == "missing":
        return (f"remote {remote!r} looks like a host name without a scheme",
                f"write https://{remote} or git@{first}:{remote.split('/', 1)[1]}")
    return None  # a local path (created as a bare repository when missing)


def _credential_problem(url: str) -> tuple[str, str] | None:
    """A remote URL whose user-info may hold a credential. Only ssh URLs may name a user
    (``ssh://git@host/...``): over HTTPS a token is often given as the user name
    (``https://<token>@github.com/...``), which git would write into ``.git/config`` and show
    in process lists, and a user name cannot be told from a token."""
    split = urlsplit(url)
    scheme = split.scheme.lower()
    if "@" not in split.netloc or scheme in ("ssh", "git+ssh", "ssh+git"):
        return None
    return ("the URL holds a user name or token before '@' (git would write it into "
            ".git/config and pass it on command lines)",
            "remove everything between '://' and '@', and set repo.token_env to the name of an "
            "environment variable holding the token (bricksmith hands it to git through an "
            "askpass helper; the user name sent is $BRICKSMITH_GIT_USERNAME, default "
            "x-access-token)")


def branch_problem(branch: str) -> str | None:
    """The parts of git's ref-name rules that the schema's pattern does not cover."""
    if ".." in branch:
        return "'..' is not allowed"
    if "//" in branch:
        return "'//' is not allowed"
    if branch.endswith(("/", ".")):
        return "it cannot end with '/' or '.'"
    if any(part.startswith(".") or part.endswith(".lock") for part in branch.split("/")):
        return "no part may start with '.' or end with '.lock'"
    return None
