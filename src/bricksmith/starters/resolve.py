"""Resolving a spec's starter to a cookiecutter template folder ``kedro new`` can use.

A starter is a built-in name, a local folder, or a git repository (a URL, or a local bare
repository), plus optionally a folder inside it (``kedro new --directory``; shorthand
``<starter>#<folder>``) and, for git, a tag, branch or commit (``kedro new --checkout``).
Local folders are used as they are, uncommitted edits included, as Kedro does; a local
repository is cloned only when it is bare or a checkout is asked for.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bricksmith.errors import ScaffoldError
from bricksmith.spec.git_checks import is_bare_repository, is_git_repository, starters_in
from bricksmith.starters.clone import clone_starter, without_credentials

BUILTIN_STARTERS: tuple[str, ...] = ("databricks-iris",)
_HERE = Path(__file__).resolve().parent
_GIT_URL = re.compile(r"^(git\+|[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
_TEMPLATE_HINT = (
    "A starter is a cookiecutter template: cookiecutter.json and a "
    "'{{ cookiecutter.repo_name }}' folder."
)


def builtin_starter_path(name: str) -> Path:
    """The template folder of the built-in starter ``name``."""
    if name not in BUILTIN_STARTERS:
        raise ScaffoldError(
            f"Unknown built-in starter {name!r}.",
            hint=f"Built-in starters: {', '.join(BUILTIN_STARTERS)}.",
        )
    return _HERE / name


def describe_starter(value: str, directory: str | None = None, checkout: str | None = None) -> str:
    """The starter as a log line shows it (no credentials)."""
    text = without_credentials(value)
    extras = [f"{k} {v}" for k, v in (("directory", directory), ("checkout", checkout)) if v]
    return f"{text} ({', '.join(extras)})" if extras else text


@contextmanager
def starter_template(
    value: str, base_dir: Path, *, directory: str | None = None, checkout: str | None = None,
    scratch: Path | None = None,
) -> Iterator[Path]:
    """``resolve_starter`` whose cloned repository (if any) is deleted on exit. ``scratch``:
    the folder to clone in (a project's staging folder, removed by its owner), else a
    temporary folder."""
    if scratch is not None:
        clone = Path(scratch) / "starter"
        try:
            yield resolve_starter(value, base_dir, directory=directory, checkout=checkout,
                                  clone_into=clone)
        finally:
            shutil.rmtree(clone, ignore_errors=True)
        return
    with tempfile.TemporaryDirectory(prefix="bricksmith-starter-") as folder:
        yield resolve_starter(
            value,
            base_dir,
            directory=directory,
            checkout=checkout,
            clone_into=Path(folder) / "starter",
        )


def resolve_starter(
    value: str,
    base_dir: Path,
    *,
    directory: str | None = None,
    checkout: str | None = None,
    clone_into: Path | None = None,
) -> Path:
    """The template folder for a spec's ``project.starter`` (and ``starter_directory``,
    ``starter_checkout``). Local paths are relative to ``base_dir``. A repository is cloned
    into ``clone_into``, or into a new temporary folder the caller deletes when done
    (``starter_template`` does)."""
    location, _, fragment = value.partition("#")
    if location in BUILTIN_STARTERS:
        if directory or checkout or fragment:
            raise ScaffoldError(
                f"The built-in starter {location!r} takes no folder or checkout.",
                hint="Remove starter_directory/starter_checkout ('#<folder>'), or give a starter "
                "folder or git URL holding several starters.",
            )
        return builtin_starter_path(location)
    if fragment and directory and fragment.strip("/") != directory.strip("/"):
        raise ScaffoldError(
            f"The starter {value!r} names the folder {fragment!r}, starter_directory "
            f"{directory!r}.",
            hint="Name the folder once: '#<folder>' or project.starter_directory.",
        )
    subdir = _subdir(directory or fragment or None)
    local = Path(location).expanduser()
    if not local.is_absolute():
        local = Path(base_dir) / local
    if local.is_dir():
        if checkout or is_bare_repository(local):
            if not is_git_repository(local):
                raise ScaffoldError(
                    f"The starter folder {local} is not a git repository, so "
                    f"starter_checkout {checkout!r} cannot apply.",
                    hint="Remove starter_checkout, or point the starter at a git repository.",
                )
            return _cloned(local.resolve().as_uri(), subdir, checkout, clone_into, shown=value)
        return template_in(local.resolve(), subdir, shown=value)
    if _GIT_URL.match(location) or location.endswith(".git"):
        url = location.removeprefix("git+")
        return _cloned(url, subdir, checkout, clone_into, shown=without_credentials(location))
    raise ScaffoldError(
        f"Starter {value!r} is not a built-in starter, a folder or a git URL.",
        hint=f"Use one of {', '.join(BUILTIN_STARTERS)}, a template folder relative to "
        f"{base_dir}, or a git URL.",
    )


def template_in(root: Path, subdir: str | None, *, shown: str) -> Path:
    """``root/subdir`` (or ``root``) when it is a cookiecutter template, else a ScaffoldError
    that lists the templates found one level down."""
    template = root / subdir if subdir else root
    where = f"{shown}, folder {subdir!r}" if subdir else shown
    if subdir and not template.is_dir():
        raise ScaffoldError(
            f"The starter {shown} has no folder {subdir!r}.",
            hint=_candidates_hint(root) or "Check project.starter_directory.",
        )
    if not (template / "cookiecutter.json").is_file():
        raise ScaffoldError(
            f"The starter {where} has no cookiecutter.json: it is not a Kedro starter.",
            hint=_candidates_hint(template) or _TEMPLATE_HINT,
        )
    return template


def _cloned(url, subdir, checkout, clone_into, *, shown: str) -> Path:
    target = clone_into or Path(tempfile.mkdtemp(prefix="bricksmith-starter-"))
    clone_starter(url, target, checkout=checkout)
    try:
        return template_in(target, subdir, shown=shown)
    except ScaffoldError:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _subdir(value: str | None) -> str | None:
    if not value or not value.strip("/"):
        return None
    path = posixpath.normpath(value.replace("\\", "/").strip("/"))
    if path == ".." or path.startswith("../") or ":" in value:
        raise ScaffoldError(
            f"The starter folder {value!r} must be a relative path inside the starter.",
            hint="Give the folder relative to the starter's root, e.g. spaceflights-pandas.",
        )
    return None if path == "." else path


def _candidates_hint(root: Path) -> str | None:
    found = starters_in(root)
    if not found:
        return None
    return f"Starters in it: {', '.join(found[:10])}; name one with project.starter_directory."
