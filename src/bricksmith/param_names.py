"""The spec's parameter names, checked against the parameters the project defines.

A key of ``project.params`` or of a run's ``params`` that the project's parameters (as Kedro
loads them: the base environment merged with the default run environment, see
``bricksmith.kedro_conf``) do not define would silently do nothing useful: Kedro keeps using
the committed value of the key the user meant. So every key, at every level of nesting, must
be defined, unless the spec opts in with ``allow_new_params: true`` (on ``project`` for
``project.params``, on a run for its ``params``). Keys of ``project.params`` count as defined
for the runs (bricksmith writes them before any run).

Problems are :class:`SpecError` diagnostics at the spec key (file:line:col) with a
did-you-mean (difflib); a project whose parameters Kedro refuses raises
:class:`ProjectConfError`. Kedro is imported only when the project exists.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bricksmith.errors import SpecError

if TYPE_CHECKING:
    from bricksmith.kedro_conf import ProjectConf
    from bricksmith.spec import Document, LoadedSpec


def project_exists(project_dir: Path) -> bool:
    """``project_dir`` holds a Kedro project (pyproject.toml with ``[tool.kedro]``)."""
    pyproject = project_dir / "pyproject.toml"
    try:
        return "[tool.kedro]" in pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def files_to_watch(conf: ProjectConf) -> tuple[list[Path], list[Path]]:
    """(files, folders) the check reads: pyproject.toml, settings.py, the parameters files of
    the base and default run environments, and every folder of those environments (a new
    parameters file appears in one). For plan memo probes."""
    from bricksmith.kedro_conf import parameter_files, parameter_folders

    envs = list(dict.fromkeys((conf.base_env, conf.default_run_env)))
    files = [*conf.files_read]
    folders = [conf.conf_source]
    for env in envs:
        files += parameter_files(conf, env)
        folders += parameter_folders(conf, env)
    files += [f for f in config_files(conf) if f not in files]  # runtime_params: names
    return files, folders


def check_spec_params(
    spec: LoadedSpec,
    *,
    conf: ProjectConf | None = None,
    project: bool = True,
    runs: Iterable[str] | None = None,
    originals: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Refuse parameter names the project does not define: ``project.params`` (when
    ``project``) and the params of the runs named in ``runs`` (None: every run).
    ``originals``: what the params step recorded it replaced (its outputs' ``originals``),
    undone first, so that a key only bricksmith added does not count as the project's. Raises
    :class:`SpecError` listing every unknown key, :class:`ProjectConfError` when the
    project's configuration cannot be read or loaded."""
    from bricksmith.kedro_conf import load_parameters, read_project_conf

    workflow = spec.workflow
    wanted = set(runs) if runs is not None else None
    chosen = [(i, r) for i, r in enumerate(workflow.runs) if wanted is None or r.name in wanted]
    project_params = workflow.project.params
    strict_project = project and project_params and not _allows(workflow.project)
    strict_runs = [(i, r) for i, r in chosen if r.params and not _allows(r)]
    if not strict_project and not strict_runs:
        return
    conf = conf or read_project_conf(spec.project_dir)
    defined = _undo(load_parameters(conf), list(originals))
    where = _describe_sources(conf)
    problems: list[tuple[tuple, str, str]] = []
    if strict_project:
        problems += _unknown(project_params, defined, ("project", "params"), where, "project")
    if strict_runs:
        for_runs = merged(merged(runtime_param_names(conf), defined), project_params)
        for index, run in strict_runs:
            problems += _unknown(run.params, for_runs, ("runs", index, "params"), where,
                                 f"run {run.name}")
    if problems:
        document = _positioned(spec)
        raise SpecError([document.diagnostic(path, message, hint)
                         for path, message, hint in problems])


def runtime_param_names(conf: ProjectConf) -> dict[str, Any]:
    """The names the project's configuration reads with Kedro's ``runtime_params:`` resolver
    (``${runtime_params:data_root, /dbfs/...}`` in a catalog), as a nested mapping: a run
    may set them although no parameters file defines them."""
    import re

    found: dict[str, Any] = {}
    pattern = re.compile(r"\$\{\s*runtime_params\s*:\s*([A-Za-z0-9_.-]+)")
    for path in config_files(conf):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for name in pattern.findall(text):
            node = found
            *parents, last = name.split(".")
            for key in parents:
                node = node.setdefault(key, {}) if isinstance(node.get(key, {}), dict) else {}
            node.setdefault(last, None)
    return found


def config_files(conf: ProjectConf) -> list[Path]:
    """Every configuration file (.yml, .yaml, .json) of the base and default run
    environments."""
    from bricksmith.kedro_conf import CONFIG_SUFFIXES, parameter_folders

    files: list[Path] = []
    for env in dict.fromkeys((conf.base_env, conf.default_run_env)):
        for folder in parameter_folders(conf, env):
            files += sorted(p for p in folder.iterdir()
                            if p.suffix in CONFIG_SUFFIXES and p.is_file()
                            and not p.name.startswith("."))
    return files


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base`` key by key (nested mappings merged, not replaced)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _undo(params: dict[str, Any], originals: list[Mapping[str, Any]]) -> dict[str, Any]:
    """``params`` with the params step's recorded changes undone (in reverse order)."""
    import copy

    params = copy.deepcopy(params)
    for entry in reversed(originals):
        *parents, last = [str(k) for k in entry.get("at") or ()] or [""]
        node: Any = params
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not last:
            continue
        if entry.get("absent"):
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(entry.get("value"))
    return params


def _allows(model: Any) -> bool:
    return bool(getattr(model, "allow_new_params", False))


def _unknown(
    params: Mapping[str, Any],
    defined: Any,
    spec_path: tuple,
    where: str,
    owner: str,
    key_path: tuple[str, ...] = (),
) -> list[tuple[tuple, str, str]]:
    """(spec path, message, hint) for each key of ``params`` that ``defined`` lacks; the
    children of an unknown key are not reported again."""
    found = []
    for key, value in params.items():
        path = (*key_path, str(key))
        dotted = ".".join(path)
        if key not in defined:
            siblings = [str(k) for k in defined]
            close = difflib.get_close_matches(str(key), siblings, n=1, cutoff=0.6)
            level = f" under {'.'.join(key_path)}" if key_path else ""
            known = ", ".join(siblings[:8]) + (", ..." if len(siblings) > 8 else "")
            message = (f"the project defines no parameter {dotted} (defined{level}: "
                       f"{known or 'none'}; as Kedro loads {where})")
            hint = (f"did you mean {'.'.join((*key_path, close[0]))}? " if close else "") + (
                f"to add a new parameter on purpose, set allow_new_params: true on {owner}")
            if "." in str(key) and _defined_path(defined, str(key).split(".")):
                first, _, rest = str(key).partition(".")
                hint = (f"{key} is a nested parameter: write it as a mapping, "
                        f"{first}: {{{rest}: ...}} (a dotted key is one literal key in YAML)")
            found.append(((*spec_path, key), message, hint))
            continue
        if isinstance(value, Mapping) and value:
            inner = defined[key]
            if not isinstance(inner, Mapping):
                found.append((
                    (*spec_path, key),
                    f"the project's parameter {dotted} is {_kind(inner)}, not a mapping: "
                    f"{', '.join(map(str, value))} cannot be set inside it",
                    f"set {dotted} to a plain value, or set allow_new_params: true on {owner}",
                ))
                continue
            found += _unknown(value, inner, (*spec_path, key), where, owner, path)
    return found


def _defined_path(defined: Any, path: list[str]) -> bool:
    for key in path:
        if not isinstance(defined, Mapping) or key not in defined:
            return False
        defined = defined[key]
    return True


def _kind(value: Any) -> str:
    text = repr(value)
    return f"a {type(value).__name__} ({text if len(text) <= 40 else text[:37] + '...'})"


def _describe_sources(conf: ProjectConf) -> str:
    from bricksmith.kedro_conf import parameter_files

    envs = list(dict.fromkeys((conf.base_env, conf.default_run_env)))
    files = [conf.describe(p) for env in envs for p in parameter_files(conf, env)]
    shown = ", ".join(files[:4]) + (", ..." if len(files) > 4 else "")
    return shown or f"no parameters files in {conf.describe(conf.conf_source)}"


def _positioned(spec: LoadedSpec) -> Document:
    """The spec's document with positions (a spec the cache returned has none)."""
    document = spec.document
    if document.key_positions:
        return document
    from bricksmith.spec.loader import load_document

    try:
        return load_document(spec.path)
    except SpecError:  # pragma: no cover - it was valid a moment ago
        return document
