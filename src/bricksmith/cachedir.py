"""Where bricksmith keeps caches (run environments, validated specs)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """$BRICKSMITH_CACHE_DIR, else $XDG_CACHE_HOME/bricksmith, else ~/.cache/bricksmith."""
    configured = os.environ.get("BRICKSMITH_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bricksmith"
