"""project.params: the spec's parameters written where Kedro reads them.

The project's configuration is found as Kedro finds it (``bricksmith.kedro_conf``:
``CONF_SOURCE``, the base environment and the ``parameters`` patterns from ``settings.py``).
Each key path of ``project.params`` is set in the base-environment file that defines it
(``parameters.yml``, ``parameters_iris.yml``, a file inside the package...), a new key in
``<conf>/<base>/parameters.yml``; nested mappings are merged key by key and the files keep
their comments, order and text (``bricksmith.parameters_file``, ruamel.yaml round-trip), and
are written atomically.

The step records, per key path it set, what the project had there before (``originals``).
Each apply first puts those back, then sets what the spec says now: a key taken out of the
spec gets the project's own value back (or disappears, when the project did not have it),
and the plan says so. Before the step ends the result is loaded with Kedro's own config
loader: a key defined twice or a broken file fails the step with the files restored, before
anything is committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bricksmith.errors import ProjectConfError, StepError
from bricksmith.steps.base import Outputs, Step, StepContext

NEW_KEYS_FILE = "parameters.yml"  # in the base environment, as Kedro's own starters
BEFORE = "the project's value before bricksmith set it"
WAS_ABSENT = "removed: the project did not have it before bricksmith set it"


def leaves(params: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple, Any]]:
    """(key path, value) of every leaf: ``{"a": {"b": 1}}`` -> ``[(("a", "b"), 1)]``. An
    empty mapping is a leaf (it makes sure the mapping exists)."""
    found: list[tuple[tuple, Any]] = []
    for key, value in params.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            found += leaves(value, path)
        else:
            found.append((path, value))
    return found


class WriteParams(Step):
    key = "project.params"
    deps = ("project.scaffold",)
    title = "write the spec's parameters where Kedro reads them"

    def __init__(self, params: Mapping[str, Any], *, allow_new: bool = False) -> None:
        self.params = dict(params)
        self.allow_new = allow_new

    def inputs(self) -> dict[str, Any]:
        return {"params": self.params}

    # -- plan ------------------------------------------------------------------------------

    def annotate(self, reasons: list[str], outputs: Outputs) -> list[str]:
        """``params.x: 0.6 → (none)`` says what apply puts back: ``params.x: 0.6 → 0.8 (the
        project's value before bricksmith set it)``."""
        restored = {}
        for entry in outputs.get("originals") or []:
            dotted = "params." + ".".join(entry["key"])
            restored[dotted] = entry
        out = []
        for line in reasons:
            if line in ("params: (none) → {}", "params: {} → (none)"):
                continue  # the other lines say which keys came or went
            name, _, change = line.partition(": ")
            entry = restored.get(name)
            if entry is not None and change.endswith("→ (none)"):
                old = change[: -len("→ (none)")].rstrip()
                if entry.get("absent"):
                    at = ".".join(entry["at"])
                    gone = f"{at} removed" if tuple(entry["at"]) != tuple(entry["key"]) else (
                        "removed")
                    line = f"{name}: {old} → (none) ({gone}: the project did not have it " \
                           "before bricksmith set it)"
                elif tuple(entry["at"]) == tuple(entry["key"]):
                    line = f"{name}: {old} → {_show(entry['value'])} ({BEFORE})"
                else:
                    at = ".".join(entry["at"])
                    line = f"{name}: {old} → (none) ({at} back to {_show(entry['value'])}, " \
                           f"{BEFORE})"
            out.append(line)
        return out

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        """[] while the files bricksmith wrote are as it left them; else (or for a record of
        an older bricksmith) what the files Kedro reads lack of the spec's parameters."""
        written = outputs.get("written")
        if written is not None and all(_unchanged(ctx.project_dir, e) for e in written):
            where = _layout(ctx.project_dir)
            if where == outputs.get("layout"):
                return []
            if isinstance(where, str):
                return [where]
        return self._missing(ctx)

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        from bricksmith.observations import observe_all

        written = outputs.get("written")
        project = ctx.project_dir
        if written is None:  # a record of an older bricksmith: its check reads every file
            return _all_files_probes(project)
        files = [project / "pyproject.toml", *(project / f for f in outputs.get("settings", []))]
        return observe_all(files + [project / entry["file"] for entry in written])

    def _missing(self, ctx: StepContext) -> list[str]:
        """What the files lack of the spec's parameters now (read as plain data)."""
        from bricksmith.kedro_conf import read_project_conf
        from bricksmith.parameters_file import ABSENT, same

        try:
            conf = read_project_conf(ctx.project_dir)
            files = _load_files(conf, [])
        except ProjectConfError as exc:
            return [exc.message]
        lines = []
        for path, value in leaves(self.params):
            owner = _owner(files, path, conf)
            found = owner.get(path) if owner is not None else ABSENT
            if found is ABSENT or not same(found, value):
                where = conf.describe(owner.path) if owner is not None else "the project"
                shown = "(none)" if found is ABSENT else _show(found)
                lines.append(f"{where}: {'.'.join(path)} is {shown}, the spec says "
                             f"{_show(value)}")
        return lines

    # -- apply -----------------------------------------------------------------------------

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        from bricksmith.kedro_conf import load_parameters, read_project_conf
        from bricksmith.param_names import check_spec_params

        conf = read_project_conf(ctx.project_dir)
        previous = list(ctx.previous.get("originals") or [])
        if not self.allow_new:  # the plan checked it when the project existed then
            check_spec_params(ctx.spec, conf=conf, runs=(), originals=previous)
        files = _load_files(conf, [entry["file"] for entry in previous])
        for entry in reversed(previous):  # back to the project's own parameters
            owner = files.get(entry["file"])
            if owner is not None:
                owner.restore(_change(entry))
        originals = []
        for path, value in leaves(self.params):
            owner = _owner(files, path, conf) or _new_keys_file(files, conf)
            change = owner.set(path, value)
            originals.append(_entry(conf, owner.path, path, change))
        # remembered before any file changes: an interrupted apply still knows what to restore
        kept = {tuple(e["key"]) for e in originals}
        ctx.checkpoint({"originals": originals + [
            e for e in previous if tuple(e["key"]) not in kept]})
        written = self._write(ctx, conf, files)
        try:
            load_parameters(conf)  # Kedro's own loader must accept the result
        except ProjectConfError as exc:
            for path, text in written.items():
                _put_back(path, text)
            raise StepError(
                f"the parameters bricksmith wrote are refused by Kedro, so they were put back: "
                f"{exc.message}",
                hint=exc.hint,
            ) from None
        return {
            "layout": _layout(ctx.project_dir),
            "settings": [conf.describe(f) for f in conf.files_read if f.name == "settings.py"],
            "files": sorted({e["file"] for e in originals}),
            "originals": originals,
            "written": [_digest(conf, owner.path) for owner in files.values()
                        if owner.path.is_file() and conf.describe(owner.path) in {
                            e["file"] for e in originals + previous}],
        }

    def _write(self, ctx: StepContext, conf, files) -> dict[Path, str | None]:
        """Save the files that changed; {path: its text before (None: it did not exist)}."""
        written: dict[Path, str | None] = {}
        for owner in files.values():
            before = owner.original
            try:
                if owner.save():
                    written[owner.path] = before
                    ctx.log(f"wrote {conf.describe(owner.path)}")
            except (OSError, ProjectConfError) as exc:
                for path, text in written.items():
                    _put_back(path, text)
                if isinstance(exc, ProjectConfError):
                    raise
                raise StepError(
                    f"cannot write {owner.path}: {exc.strerror or exc}; it was left as it was",
                    hint="free space or fix the permissions, then apply again",
                ) from None
        return written


def _load_files(conf, extra: list[str]) -> dict[str, Any]:
    """{path relative to the project: ParametersFile} of the base environment's parameters
    files, and of ``extra`` files (where earlier applies wrote)."""
    from bricksmith.kedro_conf import parameter_files
    from bricksmith.parameters_file import ParametersFile

    files = {}
    for path in parameter_files(conf):
        files[conf.describe(path)] = ParametersFile.load(path)
    for rel in extra:
        path = conf.project_dir / rel
        if rel not in files and path.is_file():
            files[rel] = ParametersFile.load(path)
    return files


def _owner(files: Mapping[str, Any], key_path: tuple, conf) -> Any:
    """The file of the base environment that defines ``key_path``, or its longest prefix."""
    base = conf.env_dir()
    best, depth = None, 0
    for parameters in files.values():
        if base not in parameters.path.parents:
            continue
        found = parameters.depth(key_path)
        if found > depth:
            best, depth = parameters, found
    return best


def _new_keys_file(files: dict[str, Any], conf) -> Any:
    """``<conf>/<base>/parameters.yml`` (created when missing), where new keys go."""
    from bricksmith.parameters_file import ParametersFile

    path = conf.env_dir() / NEW_KEYS_FILE
    rel = conf.describe(path)
    if rel not in files:
        if not _read_by_kedro(conf, NEW_KEYS_FILE):
            raise ProjectConfError(
                f"the project's parameters patterns {list(conf.config_patterns['parameters'])}"
                f" do not read {rel}, and no parameters file defines the new keys",
                hint="add the keys to one of the project's parameters files first",
            )
        files[rel] = ParametersFile.load(path)
    return files[rel]


def _read_by_kedro(conf, name: str) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(name, pattern) for pattern in conf.config_patterns.get("parameters", ()))


def _entry(conf, path: Path, key_path: tuple, change) -> dict[str, Any]:
    from bricksmith.parameters_file import ABSENT

    entry: dict[str, Any] = {"key": list(key_path), "file": conf.describe(path),
                             "at": list(change.at)}
    if change.before is ABSENT:
        entry["absent"] = True
    else:
        entry["value"] = change.before
    return entry


def _change(entry: Mapping[str, Any]):
    from bricksmith.parameters_file import ABSENT, Change

    before = ABSENT if entry.get("absent") else entry.get("value")
    return Change(tuple(entry["at"]), before)


def _digest(conf, path: Path) -> dict[str, str]:
    return {"file": conf.describe(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _all_files_probes(project: Path) -> list | None:
    """Probes of every file and folder ``_missing`` reads (None: cannot be put so)."""
    from bricksmith.kedro_conf import parameter_files, parameter_folders, read_project_conf
    from bricksmith.observations import observe_all, observe_folder

    try:
        conf = read_project_conf(project)
    except ProjectConfError:
        return None
    probes = observe_all([*conf.files_read, *parameter_files(conf)])
    folders = [observe_folder(f) for f in [conf.conf_source, *parameter_folders(conf)]]
    if probes is None or any(probe is None for probe in folders):
        return None
    return probes + folders


def _layout(project: Path) -> list[str] | str:
    """[conf source, base env] as the project's settings say now, or why they cannot be
    read."""
    from bricksmith.kedro_conf import read_project_conf

    try:
        conf = read_project_conf(project)
    except ProjectConfError as exc:
        return exc.message
    return [conf.describe(conf.conf_source), conf.base_env]


def _unchanged(project: Path, entry: Mapping[str, str]) -> bool:
    try:
        return hashlib.sha256((project / entry["file"]).read_bytes()).hexdigest() == entry[
            "sha256"]
    except OSError:
        return False


def _put_back(path: Path, text: str | None) -> None:
    """``path`` as it was before this apply (best effort: the next apply restores it from
    the checkpointed originals anyway)."""
    from bricksmith.atomic import write_text_atomically

    try:
        if text is None:
            path.unlink(missing_ok=True)
        else:
            write_text_atomically(path, text)
    except OSError:
        pass


def _show(value: Any) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
