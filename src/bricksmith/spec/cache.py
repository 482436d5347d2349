"""A cache of specs that validated, so planning a large spec again skips the slow parts.

Validating a spec of 10,000 steps spends most of its time in the position-keeping YAML parse
and the JSON Schema pass. When the same bytes come back with the same inputs, both give the
same answer, so an entry keeps what they produced:

- key: the spec file's bytes and the source code of ``bricksmith.spec`` (a changed spec or a
  changed bricksmith never meets a stale entry);
- value: the spec's data as written, before ``${...}`` interpolation (never an environment
  value), and digests of the inputs it was accepted with: the ``--var`` values and the values
  of the environment variables the file mentions.

A hit still interpolates, builds the models and runs the semantic checks (they look at the
filesystem); any problem there falls back to the full validation, whose message has positions.
Entries are written atomically; an unreadable or unwritable cache is ignored.
``BRICKSMITH_SPEC_CACHE=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

_ENV_MENTION = re.compile(rb"env\.([A-Za-z_][A-Za-z0-9_]*)")  # a superset of ${env.NAME}
_KEEP = 8  # accepted input digests kept per entry


def _code_digest() -> str:
    digest = hashlib.sha256()
    from pathlib import Path

    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


class SpecCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def default(cls) -> SpecCache | None:
        if os.environ.get("BRICKSMITH_SPEC_CACHE", "1") == "0":
            return None
        from bricksmith.cachedir import default_cache_dir

        return cls(default_cache_dir() / "specs")

    def _entry(self, raw: bytes) -> Path:
        key = hashlib.sha256(_code_digest().encode() + b"\0" + raw).hexdigest()
        return self.folder / f"{key}.json"

    @staticmethod
    def inputs_digest(
        raw: bytes, environ: Mapping[str, str], variables: Mapping[str, str] | None
    ) -> str:
        names = sorted({name.decode() for name in _ENV_MENTION.findall(raw)})
        inputs = [[name, environ.get(name)] for name in names]
        inputs.append(sorted((variables or {}).items()))
        return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()

    def lookup(
        self, raw: bytes, environ: Mapping[str, str], variables: Mapping[str, str] | None
    ) -> dict[str, Any] | None:
        """The spec's data as written, when these bytes were accepted with these inputs."""
        try:
            entry = json.loads(self._entry(raw).read_text())
        except (OSError, ValueError):
            return None
        if self.inputs_digest(raw, environ, variables) not in entry.get("accepted", []):
            return None
        data = entry.get("data")
        return data if isinstance(data, dict) else None

    def store(
        self,
        raw: bytes,
        data: dict[str, Any],
        environ: Mapping[str, str],
        variables: Mapping[str, str] | None,
    ) -> None:
        """Remember that ``raw`` (whose data as written is ``data``) was accepted."""
        try:
            text = json.dumps(data)
            if json.loads(text) != data:
                return  # something JSON cannot carry exactly: never cache it
            path = self._entry(raw)
            accepted: list[str] = []
            if path.exists():
                accepted = json.loads(path.read_text()).get("accepted", [])
            digest = self.inputs_digest(raw, environ, variables)
            accepted = [d for d in accepted if d != digest][-(_KEEP - 1):] + [digest]
            from bricksmith.atomic import write_text_atomically

            write_text_atomically(
                path, f'{{"accepted": {json.dumps(accepted)}, "data": {text}}}',
                create_folder=True)
        except (OSError, ValueError, TypeError):
            return  # a cache is never a reason to fail
