"""The routes databricks-sdk knows, read from the installed SDK's generated service code: every
``self._api.do("METHOD", "/api/...")`` call in ``databricks/sdk/service/*.py`` and
``databricks/sdk/mixins/*.py`` (issue 16, item 10). A route that the SDK does not know is a
route that a real workspace may not serve."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

CALL = re.compile(r"""_api\.do\(\s*"([A-Z]+)",\s*f?"(/api/[^"]+)\"""")
PLACEHOLDER = re.compile(r"\{[^{}]*(?:\([^()]*\))?[^{}]*\}")
# Older versions of routes the SDK knows in a newer version: still served by Databricks and
# used by older clients (the legacy databricks-cli); the same request and answer shapes.
LEGACY_VERSIONS = {"/api/2.2/jobs/": ("2.0", "2.1"), "/api/2.1/clusters/": ("2.0",)}
NOT_API = {("GET", "/")}  # the emulator's run page, what run_page_url opens in a browser


def sdk_root() -> Path:
    import databricks.sdk

    return Path(databricks.sdk.__file__).parent


@cache
def sdk_routes() -> frozenset[tuple[str, str]]:
    """``(METHOD, path)`` with every path parameter written ``{}``."""
    root = sdk_root()
    found = set()
    for file in [*root.glob("service/*.py"), *root.glob("mixins/*.py")]:
        for method, path in CALL.findall(file.read_text()):
            found.add((method, PLACEHOLDER.sub("{}", path)))
    return frozenset(found)


def canonical(pattern: str) -> str:
    """An emulator route pattern (``{id}``, ``{path*}``) with parameters written ``{}``."""
    return re.sub(r"\{\w+\*?\}", "{}", pattern)


def known(method: str, pattern: str) -> bool:
    """Whether the SDK calls ``method pattern`` (or it is a documented older version)."""
    route = (method, canonical(pattern))
    if route in sdk_routes() or route in NOT_API:
        return True
    for newer, versions in LEGACY_VERSIONS.items():
        for version in versions:
            older = newer.replace(newer.split("/")[2], version, 1)
            if route[1].startswith(older):
                return (method, newer + route[1][len(older):]) in sdk_routes()
    return False


def matching(method: str, path: str) -> bool:
    """Whether a concrete call ``method path`` is one the SDK makes (parameters filled in)."""
    for sdk_method, pattern in sdk_routes():
        if sdk_method != method:
            continue
        regex = "^" + re.escape(pattern).replace(r"\{\}", ".+") + "$"
        if re.match(regex, path):
            return True
    return False


def field_names(module: str) -> set[str]:
    """Every quoted name in an SDK service module (and its hand-written mixin, when there is
    one): its request and answer field names."""
    files = [sdk_root() / "service" / f"{module}.py", sdk_root() / "mixins" / f"{module}.py"]
    text = "".join(f.read_text() for f in files if f.exists())
    return set(re.findall(r'"(\w+)"', text))
