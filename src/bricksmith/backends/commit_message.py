"""The message of a commit bricksmith makes: what changed, read from the staged change.

    Set train_fraction 0.8 → 0.7 (bricksmith)

    conf/base/parameters.yml (modified):
      train_fraction: 0.8 → 0.7

A subject (the spec's ``repo.message`` when it sets one, else a summary), then every staged
file with its kind of change and, for Kedro parameters files (any ``parameters*`` file or
folder, as Kedro's config loader finds them), every key that changed with its old and new
value, nested keys dotted. The first commit of a project lists how many files it holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KINDS = {"A": "added", "M": "modified", "D": "deleted", "T": "type changed"}
MAX_FILES = 50  # listed in the body; the rest are counted
MAX_KEYS = 50  # per parameters file
MAX_VALUE = 60  # characters of a value shown


def compose(path: Path, *, subject: str | None = None, first: str | None = None) -> str:
    """The message for the change staged in the repository at ``path``. ``first``: the
    subject of a repository's first commit (given for that one only; its body counts the
    files)."""
    from bricksmith.backends.git import read_git

    if first is not None:
        staged = read_git(["ls-files", "-z"], cwd=path, action="ls-files")
        files = [f for f in staged.split("\0") if f]
        return f"{first}\n\n{len(files)} files.\n"
    status = read_git(["diff", "--cached", "--no-renames", "--name-status", "-z", "HEAD"],
                      cwd=path, action="diff")
    fields = [f for f in status.split("\0") if f]
    changes = list(zip(fields[0::2], fields[1::2], strict=False))
    lines: list[str] = []
    all_keys: list[str] = []
    for kind, name in changes[:MAX_FILES]:
        keys = parameter_changes(path, name) if is_parameters_file(name) else []
        lines.append(f"{name} ({KINDS.get(kind[:1], kind)})" + (":" if keys else ""))
        if keys:
            all_keys += keys
            lines += [f"  {key}" for key in keys[:MAX_KEYS]]
            if len(keys) > MAX_KEYS:
                lines.append(f"  ... and {len(keys) - MAX_KEYS} more keys")
    if len(changes) > MAX_FILES:
        lines.append(f"... and {len(changes) - MAX_FILES} more files")
    return f"{subject or _summary(changes, all_keys)}\n\n" + "\n".join(lines) + "\n"


def _summary(changes: list[tuple[str, str]], keys: list[str]) -> str:
    params_only = all(is_parameters_file(name) for _, name in changes)
    if params_only and 0 < len(keys) <= 2:
        text = "Set " + ", ".join(keys)
        if len(text) <= 64:
            return f"{text} (bricksmith)"
    if params_only and keys:
        return f"Set {len(keys)} parameters (bricksmith)"
    names = ", ".join(name for _, name in changes[:3])
    more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
    text = f"Update {names}{more}"
    if len(text) > 64:
        text = f"Update {len(changes)} files"
    return f"{text} (bricksmith)"


def is_parameters_file(name: str) -> bool:
    """A YAML or JSON file Kedro's config loader reads as parameters (``parameters*``,
    ``parameters*/**``, ``**/parameters*``)."""
    parts = name.split("/")
    return name.endswith((".yml", ".yaml", ".json")) and any(
        part.startswith("parameters") for part in parts)


def parameter_changes(path: Path, name: str) -> list[str]:
    """``key: old → new`` for every key (nested keys dotted) whose value differs between
    HEAD and the index; [] when either side does not parse."""
    before = _load(path, f"HEAD:{name}")
    after = _load(path, f":{name}")
    if before is None or after is None:
        return []
    old, new = _flatten(before), _flatten(after)
    missing = object()
    out = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key, missing), new.get(key, missing)
        if was != now:
            out.append(f"{key}: {_show(was, missing)} → {_show(now, missing)}")
    return out


def _load(path: Path, spec: str) -> Any:
    import yaml

    from bricksmith.backends.git import read_git
    from bricksmith.errors import GitError

    try:
        text = read_git(["show", spec], cwd=path, action="show")
    except GitError:
        return {}  # the file is new, or deleted
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if data is not None else {}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or "(whole file)": value}


def _show(value: Any, missing: object) -> str:
    if value is missing:
        return "(none)"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."
