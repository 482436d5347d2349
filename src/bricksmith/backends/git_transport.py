"""How bricksmith's git commands reach a remote: credentials, retries and their errors.

Tokens for HTTPS remotes are handed to git through an askpass helper that reads the
environment variable named in the spec: they never land in a URL, ``.git/config``, the state,
a log or a process's command line (the helper is given the variable's *name*). Every command
that talks to a remote (push, ls-remote, clone, fetch) runs in the environment of
:func:`credentials_env` and, when a network hiccup is worth another try, in :func:`retrying`.
"""

from __future__ import annotations

import os
import random
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bricksmith.errors import GitError


def git_error(action: str, exc: Exception, hint: str, token_env: str | None = None) -> GitError:
    detail = getattr(exc, "stderr", "") or str(exc)
    detail = detail.strip().replace("stderr: ", "").strip("'\" \n")
    secret = os.environ.get(token_env) if token_env else None
    if secret:  # git does not echo credentials; this makes sure of it
        detail = detail.replace(secret, "***")
    return GitError(f"git {action} failed: {detail}", hint=hint)


# git's words for a network hiccup worth another try; anything else (authentication, a
# rejected or non-fast-forward push, a missing repository) is permanent and fails at once.
TRANSIENT_ERRORS = (
    "could not resolve host",
    "connection refused",
    "connection reset",
    "timed out",
    "the remote end hung up unexpectedly",
    "early eof",
    "rpc failed",
    "temporary failure",
    "returned error: 429",
    "returned error: 500",
    "returned error: 502",
    "returned error: 503",
    "returned error: 504",
)
NETWORK_ATTEMPTS = 4
NETWORK_TIMEOUT_S = 600  # one push or fetch; the step as a whole has the engine's timeout


def is_transient(exc: Exception) -> bool:
    text = f"{getattr(exc, 'stderr', '')} {exc}".lower()
    return any(marker in text for marker in TRANSIENT_ERRORS)


def retrying(call, *, attempts: int = NETWORK_ATTEMPTS, base_delay_s: float = 1.0,
             sleep=time.sleep, jitter=random.random, before_retry=lambda: None):
    """``call()``, tried again after a transient git error with exponential backoff and jitter
    (1 s, 2 s, 4 s, each times 0.5-1.5); a permanent error is raised at once."""
    import git

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except git.GitCommandError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            sleep(base_delay_s * 2 ** (attempt - 1) * (0.5 + jitter()))
            before_retry()
    raise AssertionError("unreachable")


def credentials_hint(token_env: str | None) -> str:
    if token_env:
        return f"that ${token_env} (repo.token_env) holds a valid token with access to it"
    return "that your credentials are right"


USERNAME_ENV = "BRICKSMITH_GIT_USERNAME"
DEFAULT_USERNAME = "x-access-token"


@contextmanager
def credentials_env(token_env: str | None) -> Iterator[dict[str, str]]:
    """Environment for git: never prompts; with a token env var, an askpass helper reads it.

    The helper answers git's "Username for ..." prompt with $BRICKSMITH_GIT_USERNAME, else
    ``x-access-token`` (GitHub, GitLab and Azure DevOps accept any non-empty user name with a
    token; a user name in the remote URL is used as is and not asked for), and the "Password
    for ..." prompt with the variable named ``token_env``. Credential helpers configured for
    git are switched off for these commands, so none of them answers with another credential or
    stores the token (``credential.helper=store`` would write it to ~/.git-credentials).
    """
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if not token_env:
        yield env
        return
    if not os.environ.get(token_env):
        raise GitError(
            f"environment variable {token_env} (repo.token_env) is not set",
            hint=f"export {token_env}=<token> before running bricksmith",
        )
    with tempfile.TemporaryDirectory(prefix="bricksmith-askpass-") as folder:
        helper = Path(folder) / "askpass.sh"
        # The helper holds no secret: it prints the variable whose *name* it is given.
        helper.write_text(
            "#!/bin/sh\n"
            'case "$1" in\n'
            '  Username*) printf "%s\\n" "${' + USERNAME_ENV + ":-" + DEFAULT_USERNAME + '}" ;;\n'
            '  *) printenv "$BRICKSMITH_TOKEN_ENV" ;;\n'
            "esac\n"
        )
        helper.chmod(stat.S_IRWXU)
        # An empty credential.helper (as command-line config: GIT_CONFIG_COUNT, git >= 2.31)
        # empties the list of helpers from every config file.
        index = int(os.environ.get("GIT_CONFIG_COUNT") or 0)
        env.update(
            {
                "GIT_ASKPASS": str(helper),
                "BRICKSMITH_TOKEN_ENV": token_env,
                "GIT_CONFIG_COUNT": str(index + 1),
                f"GIT_CONFIG_KEY_{index}": "credential.helper",
                f"GIT_CONFIG_VALUE_{index}": "",
            }
        )
        yield env
