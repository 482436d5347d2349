"""Where bricksmith keeps caches (run environments, validated specs, plan memos)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path


def default_cache_folder() -> str:
    """$BRICKSMITH_CACHE_DIR, else $XDG_CACHE_HOME/bricksmith, else ~/.cache/bricksmith (a
    string: a replayed plan does not import pathlib)."""
    configured = os.environ.get("BRICKSMITH_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bricksmith")


def default_cache_dir() -> Path:
    """``default_cache_folder()`` as a Path."""
    from pathlib import Path

    return Path(default_cache_folder())
