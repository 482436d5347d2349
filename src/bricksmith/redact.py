"""Keep credentials written into URLs (``https://user:token@host``) out of what is shown."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(://)[^/@\s]*@")


def redact(text: str) -> str:
    """``text`` with the user-info part of every URL in it masked: ``https://***@host``."""
    return _USERINFO.sub(r"\1***@", text)
