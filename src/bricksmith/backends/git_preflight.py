"""Preflight of a git remote: reachable with the credential apply will push with, its branch
there or creatable, and a push that git would refuse said before anything is committed.

A local remote (a path or ``file://`` URL) is looked at on disk: no token, no network. Another
remote is asked with ``git ls-remote`` in the environment of
:func:`bricksmith.backends.git_transport.credentials_env` (the token reaches git through the
askpass helper: never on a command line, never in ``.git/config``), and its failure is said by
kind: DNS, connection refused, TLS, credentials (401/403), repository not found.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from bricksmith.backends.git_transport import credentials_env
from bricksmith.errors import GitError, Problem
from bricksmith.gitremote import local_remote_path

LS_REMOTE_TIMEOUT_S = 20  # a remote that does not answer fails the preflight in seconds

# (markers in git's stderr, lower case) → (what, how to fix); {host}, {remote}, {credential}
_FAILURES = (
    (("could not resolve host", "could not resolve hostname", "name or service not known",
      "temporary failure in name resolution"),
     "cannot reach {host}: DNS lookup failed",
     "check the host name in repo.remote ({remote}) and your network"),
    (("connection refused", "couldn't connect to server", "failed to connect"),
     "cannot reach {host}: the connection was refused",
     "check the host and port in repo.remote ({remote}), that the server runs, and your "
     "network (a proxy or firewall)"),
    (("ssl", "tls", "certificate", "gnutls"),
     "cannot reach {host}: the TLS (https) handshake failed",
     "check that repo.remote ({remote}) is the right https URL; behind a proxy that inspects "
     "TLS, point git at its certificate (GIT_SSL_CAINFO)"),
    (("authentication failed", "could not read username", "could not read password",
      "returned error: 401", "returned error: 403", "invalid username or password",
      "terminal prompts disabled", "permission denied", "access denied"),
     "{host} refused the credentials for {remote}",
     "check {credential}"),
    (("repository not found", "returned error: 404", "does not appear to be a git repository",
      "not found"),
     "the repository {remote} was not found",
     "create it (an empty repository) or fix repo.remote; a private repository also needs "
     "{credential}"),
)


def remote_host(location: str) -> str:
    """The host of a remote URL (``git@host:path`` included), else the location itself."""
    split = urlsplit(location)
    if split.hostname:
        return split.hostname if split.port is None else f"{split.hostname}:{split.port}"
    if "@" in location and ":" in location.split("@", 1)[1]:
        return location.split("@", 1)[1].split(":", 1)[0]
    return location


def describe_failure(stderr: str, location: str, token_env: str | None,
                     key: str = "repo.remote") -> tuple[str, str]:
    """(what, fix) for a failed ``git ls-remote`` of ``location`` (the spec's ``key``), from
    git's stderr."""
    text = stderr.lower()
    credential = (f"that ${token_env} (repo.token_env) holds a valid token with access to it"
                  if token_env else "repo.token_env: the name of an environment variable "
                  "holding a token with access to it (e.g. GITHUB_TOKEN)")
    names = {"host": remote_host(location), "remote": location, "credential": credential}
    for markers, what, fix in _FAILURES:
        if any(marker in text for marker in markers):
            return (what.format(**names),
                    fix.format(**names).replace("repo.remote", key))
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no answer"
    return f"git ls-remote {location} failed: {detail}", f"check {key} and {credential}"


def remote_problems(
    location: str, branch: str, token_env: str | None, *, project: Path, network: bool,
    pushing: bool, seen: list | None = None,
) -> list[Problem]:
    """What stops a push of ``branch`` to ``location``. ``network``: ask a remote that is not
    local (``git ls-remote``; else only a local remote is looked at); ``pushing``: the push
    will run, so a remote branch holding commits the project lacks is a problem (git would
    refuse the push). A missing token is not said here (the caller names every variable).
    ``seen`` receives each local git command read, as ``(args, stdout)``."""
    where = f"repo.remote: {location}"
    seen = [] if seen is None else seen
    folder = local_remote_path(location)
    if folder is not None:
        problem = _local_problem(folder, where)
        if problem is not None:
            return [problem]
        head = branch_commit(["--git-dir", str(folder)], branch, seen) if (
            pushing and folder.exists()) else None
    else:
        if not network or (token_env and not os.environ.get(token_env)):
            return []
        head, problem = _ls_remote(location, branch, token_env, where)
        if problem is not None:
            return [problem]
    if pushing and head and not _contains(project, branch, head, seen):
        return [Problem(
            f"branch {branch} of {location} is at {head[:10]}, a commit the project's "
            f"{branch} does not have: git would refuse the push (bricksmith never overwrites)",
            where,
            f"bring it in first: `git -C {project} pull --ff-only {location} {branch}`; or "
            "push to another repo.branch or an empty repository")]
    return []


def branch_commit(place: list[str], branch: str, seen: list) -> str | None:
    """The commit ``refs/heads/<branch>`` is at in the repository ``place`` names (``-C
    <dir>`` or ``--git-dir <dir>``); None without that branch or when git cannot tell."""
    args = [*place, "for-each-ref", "--format=%(objectname)", f"refs/heads/{branch}"]
    try:
        done = _git(args)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    seen.append((args, done.stdout))
    return done.stdout.strip() or None


def starter_problems(url: str, shown: str) -> list[Problem]:
    """A git starter (a URL; ``shown``: it without credentials) that cannot be read:
    ``git ls-remote`` without a token, as ``kedro new`` clones it."""
    where = f"project.starter: {shown}"
    try:
        done = _git(["ls-remote", "--heads", url])
    except subprocess.TimeoutExpired:
        return [Problem(f"cannot reach {remote_host(shown)}: no answer within "
                        f"{LS_REMOTE_TIMEOUT_S} s", where,
                        "check project.starter and your network")]
    except OSError as exc:
        return [Problem(f"git cannot run: {exc}", where, "install git")]
    if done.returncode == 0:
        return []
    what, fix = describe_failure(done.stderr.replace(url, shown), shown, None,
                                 key="project.starter")
    return [Problem(what, where, fix)]


def _local_problem(folder: Path, where: str) -> Problem | None:
    """A local remote that is neither a git repository nor creatable as one."""
    if folder.exists():
        if (folder / "HEAD").is_file() and (folder / "objects").is_dir():
            return None  # a bare repository
        if (folder / ".git").exists():
            return None
        return Problem(f"the remote {folder} exists but is not a git repository", where,
                       "point repo.remote at a bare repository, or at a path that does not "
                       "exist yet (apply creates it)")
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return None  # apply creates the bare repository
    return Problem(f"the remote {folder} does not exist and cannot be created: {parent} is "
                   "not a folder you can write to", where,
                   "point repo.remote at a folder you can write to, or create the bare "
                   f"repository: git init --bare {folder}")


def _git(args: list[str], *, env: dict[str, str] | None = None,
         timeout: float = LS_REMOTE_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
                          timeout=timeout)


def _ls_remote(location: str, branch: str, token_env: str | None,
               where: str) -> tuple[str | None, Problem | None]:
    """(the commit ``branch`` is at on the remote or None, the problem reaching it)."""
    try:
        with credentials_env(token_env) as env:
            done = _git(["ls-remote", location, f"refs/heads/{branch}"], env=env)
    except GitError:
        return None, None  # the token is missing: said by the caller
    except subprocess.TimeoutExpired:
        return None, Problem(
            f"cannot reach {remote_host(location)}: no answer within {LS_REMOTE_TIMEOUT_S} s",
            where, "check the host in repo.remote and your network (a proxy or firewall)")
    except OSError as exc:
        return None, Problem(f"git cannot run: {exc}", where, "install git")
    if done.returncode != 0:
        what, fix = describe_failure(done.stderr, location, token_env)
        return None, Problem(what, where, fix)
    out = done.stdout.split()
    return (out[0] if out else None), None


def _contains(project: Path, branch: str, commit: str, seen: list) -> bool:
    """Whether the project's ``branch`` holds ``commit`` (a push would fast-forward)."""
    if not (project / ".git").exists():
        return False  # a project still to be created has no commit of the remote's
    if branch_commit(["-C", str(project)], branch, seen) == commit:
        return True  # pushed as it is: the usual case, one command
    try:
        done = _git(["-C", str(project), "merge-base", "--is-ancestor", commit,
                     f"refs/heads/{branch}"])
    except (OSError, subprocess.TimeoutExpired):
        return True  # cannot tell: the push says
    return done.returncode == 0
