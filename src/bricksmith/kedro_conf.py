"""A Kedro project's configuration, found the way Kedro finds it.

Kedro reads a project's configuration from ``CONF_SOURCE`` (default ``conf``, relative to the
project folder) with the loader ``CONFIG_LOADER_CLASS`` built from ``CONFIG_LOADER_ARGS``
(``base_env``, ``default_run_env``, ``config_patterns``, ...), all set in the package's
``settings.py`` (kedro/framework/project/__init__.py: ``_ProjectSettings``;
kedro/framework/session/session.py: ``_get_config_loader``). Parameters are the files of the
base environment and of the run environment that match the ``parameters`` patterns
(``parameters*``, ``parameters*/**``, ``**/parameters*``: ``OmegaConfigLoader.config_patterns``),
merged by Kedro's own ``OmegaConfigLoader``.

``settings.py`` is read without importing the project (its hooks may import pyspark): only the
statements that define ``CONF_SOURCE``, ``CONFIG_LOADER_ARGS`` and ``CONFIG_LOADER_CLASS`` (and
the assignments, functions and ``pathlib``/``os`` imports they use) are evaluated, with
``__file__`` set to the settings file. Kedro is imported lazily and writes nothing into the
project here (no session, no CLI, so no telemetry).

A bottom-layer module: it imports nothing of plan/, engine/, steps/ or backends/.
"""

from __future__ import annotations

import ast
import builtins
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bricksmith.errors import ProjectConfError

__all__ = [
    "DEFAULT_CONFIG_PATTERNS",
    "ProjectConf",
    "defining_file",
    "load_parameters",
    "parameter_files",
    "read_project_conf",
]

# OmegaConfigLoader's defaults (kedro/config/omegaconf_config.py, Kedro 1.x)
DEFAULT_CONFIG_PATTERNS: dict[str, tuple[str, ...]] = {
    "catalog": ("catalog*", "catalog*/**", "**/catalog*"),
    "parameters": ("parameters*", "parameters*/**", "**/parameters*"),
    "credentials": ("credentials*", "credentials*/**", "**/credentials*"),
    "globals": ("globals.yml",),
}
# kedro/framework/project/__init__.py: the defaults of CONF_SOURCE and CONFIG_LOADER_ARGS
DEFAULT_CONF_SOURCE = "conf"
DEFAULT_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
CONFIG_SUFFIXES = (".yml", ".yaml", ".json")  # OmegaConfigLoader._is_valid_config_path

_SETTINGS_NAMES = ("CONF_SOURCE", "CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS")
_STDLIB_MODULES = ("pathlib", "os", "os.path")
_SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "str", "int", "float", "bool", "dict", "list", "tuple", "set", "frozenset", "len",
        "sorted", "min", "max", "sum", "abs", "round", "range", "zip", "enumerate", "map",
        "filter", "any", "all", "repr", "isinstance", "None", "True", "False",
        "Exception", "ValueError", "KeyError", "TypeError",
    )
    if hasattr(builtins, name)
}


@dataclass(frozen=True)
class ProjectConf:
    """Where and how Kedro reads one project's configuration.

    ``conf_source`` is absolute; ``config_patterns`` are OmegaConfigLoader's defaults merged
    with the project's ``CONFIG_LOADER_ARGS["config_patterns"]``; ``loader_args`` are the
    other ``CONFIG_LOADER_ARGS`` given to the loader as they are (``merge_strategy``,
    ``custom_resolvers``, ...); ``files_read`` are the files this was computed from (for cache
    probes); ``warnings`` say what bricksmith could not follow exactly."""

    project_dir: Path
    package_name: str
    conf_source: Path
    base_env: str
    default_run_env: str
    config_patterns: Mapping[str, tuple[str, ...]] = field(hash=False)
    settings_file: Path | None = None
    files_read: tuple[Path, ...] = ()
    loader_args: Mapping[str, Any] = field(default_factory=dict, hash=False)
    warnings: tuple[str, ...] = ()

    def env_dir(self, env: str | None = None) -> Path:
        """The folder of environment ``env`` (default: the base environment)."""
        return self.conf_source / (self.base_env if env is None else env)

    def run_env(self, env: str | None = None) -> str:
        """The environment a run uses: ``env``, else the project's ``default_run_env``."""
        return env or self.default_run_env

    def describe(self, path: Path) -> str:
        """``path`` relative to the project folder when inside it, else absolute."""
        try:
            return path.relative_to(self.project_dir).as_posix()
        except ValueError:
            return str(path)


def read_project_conf(project_dir: str | os.PathLike) -> ProjectConf:
    """The configuration layout of the Kedro project at ``project_dir``.

    Reads ``pyproject.toml`` (``[tool.kedro] package_name``, ``source_dir``) and, when it
    exists, ``<source_dir>/<package>/settings.py`` without importing it. Raises
    :class:`ProjectConfError` when the project has no ``[tool.kedro]`` table or when a
    statement defining ``CONF_SOURCE``/``CONFIG_LOADER_ARGS`` cannot be evaluated (naming
    ``settings.py`` and the line)."""
    import tomllib

    project = Path(os.path.abspath(project_dir))
    pyproject = project / "pyproject.toml"
    try:
        metadata = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProjectConfError(
            f"{pyproject} cannot be read: {exc.strerror or exc}",
            hint="project.path must be a Kedro project (pyproject.toml with [tool.kedro])",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectConfError(f"{pyproject} is not valid TOML: {exc}") from None
    kedro = metadata.get("tool", {}).get("kedro")
    if not isinstance(kedro, dict) or not isinstance(kedro.get("package_name"), str):
        raise ProjectConfError(
            f"{pyproject} has no [tool.kedro] package_name",
            hint="project.path must be a Kedro project (pyproject.toml with [tool.kedro])",
        )
    package = kedro["package_name"]
    source_dir = kedro.get("source_dir", "src")
    settings_file = project / str(source_dir) / package / "settings.py"
    files_read = [pyproject]
    values: dict[str, Any] = {}
    warnings: list[str] = []
    if settings_file.is_file():
        files_read.append(settings_file)
        values, warnings = _read_settings(settings_file)
    else:
        settings_file = None

    conf_source = values.get("CONF_SOURCE", DEFAULT_CONF_SOURCE)
    if not isinstance(conf_source, (str, os.PathLike)):
        raise ProjectConfError(
            f"{settings_file}: CONF_SOURCE is a {type(conf_source).__name__}, not a path",
            hint="set CONF_SOURCE to a folder, e.g. \"conf\"",
        )
    conf_path = Path(os.path.normpath(project / os.fspath(conf_source)))
    args = values.get("CONFIG_LOADER_ARGS", DEFAULT_LOADER_ARGS)
    if not isinstance(args, Mapping):
        raise ProjectConfError(
            f"{settings_file}: CONFIG_LOADER_ARGS is a {type(args).__name__}, not a dict",
            hint='set CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}',
        )
    args = dict(args)
    patterns = {key: tuple(value) for key, value in DEFAULT_CONFIG_PATTERNS.items()}
    for key, value in dict(args.pop("config_patterns", None) or {}).items():
        patterns[key] = tuple(value)
    base_env = args.pop("base_env", None) or ""  # OmegaConfigLoader: None means ""
    default_run_env = args.pop("default_run_env", None) or ""
    for ignored in ("conf_source", "env", "runtime_params"):
        args.pop(ignored, None)
    return ProjectConf(
        project_dir=project,
        package_name=package,
        conf_source=conf_path,
        base_env=base_env,
        default_run_env=default_run_env,
        config_patterns=patterns,
        settings_file=settings_file,
        files_read=tuple(files_read),
        loader_args=args,
        warnings=tuple(warnings),
    )


def parameter_files(conf: ProjectConf, env: str | None = None) -> list[Path]:
    """The files of environment ``env`` (default: the base environment) that Kedro reads
    parameters from, sorted: those matching the ``parameters`` patterns, ending in .yml,
    .yaml or .json, not hidden (``OmegaConfigLoader._read_dir_configs``). [] when the
    environment's folder does not exist."""
    folder = conf.env_dir(env)
    if not folder.is_dir():
        return []
    from fsspec.implementations.local import LocalFileSystem  # Kedro's own glob

    fs = LocalFileSystem()
    found: set[Path] = set()
    for pattern in conf.config_patterns.get("parameters", ()):
        for each in fs.glob(Path(f"{folder}/{pattern}").as_posix()):
            path = Path(each)
            if path.suffix in CONFIG_SUFFIXES and path.is_file() and not _hidden(conf, path):
                found.add(path)
    return sorted(found)


def parameter_folders(conf: ProjectConf, env: str | None = None) -> list[Path]:
    """Every folder under environment ``env`` (itself included): a new parameters file
    appears in one of them. For cache probes."""
    folder = conf.env_dir(env)
    if not folder.is_dir():
        return []
    found = [folder]
    for root, dirs, _files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / d for d in dirs]
    return found


def load_parameters(conf: ProjectConf, env: str | None = None) -> dict[str, Any]:
    """The project's parameters as Kedro loads them: base merged with environment ``env``
    (default: the project's ``default_run_env``), by Kedro's own ``OmegaConfigLoader``.

    {} when no parameters file exists (as ``KedroContext.params``). Raises
    :class:`ProjectConfError` naming the files when Kedro refuses them (a key defined in two
    files of one environment, invalid YAML, a failing interpolation), and when the folder of
    the base or run environment is missing (Kedro's loader refuses it and
    ``KedroContext.params`` then gives a run no parameters at all)."""
    for name in dict.fromkeys((conf.base_env, conf.run_env(env))):
        folder = conf.env_dir(name)
        if not folder.is_dir():  # Kedro's loader refuses it, and a run then has no parameters
            raise ProjectConfError(
                f"the configuration environment {name!r} of {conf.project_dir} has no folder "
                f"{conf.describe(folder)}: Kedro would load no parameters at all",
                hint=f"create {conf.describe(folder)} (with a .gitkeep, so git keeps it)",
            )
    try:
        from kedro.config import MissingConfigException, OmegaConfigLoader
    except ImportError as exc:  # pragma: no cover - kedro is a dependency
        raise ProjectConfError(f"Kedro cannot be imported: {exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OmegaConf's deprecation notes are not the user's
            loader = OmegaConfigLoader(
                conf_source=str(conf.conf_source),
                env=env,
                base_env=conf.base_env,
                default_run_env=conf.default_run_env,
                config_patterns={k: list(v) for k, v in conf.config_patterns.items()},
                **dict(conf.loader_args),
            )
            params = loader["parameters"]
    except MissingConfigException:
        return {}
    except Exception as exc:  # noqa: BLE001 - Kedro's and OmegaConf's errors, mapped here
        files = [conf.describe(p) for p in parameter_files(conf)]
        if env or conf.default_run_env:
            files += [conf.describe(p) for p in parameter_files(conf, conf.run_env(env))]
        raise ProjectConfError(
            f"Kedro cannot load the parameters of {conf.project_dir} "
            f"({', '.join(files) or 'no parameters files'}): {_one_line(exc)}",
            hint="fix the parameters files (Kedro refuses a key defined in two files of one "
            "environment, and invalid YAML); `git diff` shows what changed",
        ) from None
    return dict(params or {})


def defining_file(
    conf: ProjectConf, key_path: Sequence[str], env: str | None = None
) -> Path | None:
    """The parameters file of environment ``env`` (default: the base environment) that
    defines ``key_path`` (``("model_options", "test_size")``), or, when none defines all of
    it, the one defining its longest prefix (``model_options``); None when no file defines
    even its first key. Files are read as plain YAML/JSON; an unreadable file is skipped
    (``load_parameters`` reports it)."""
    best: tuple[int, Path] | None = None
    for path in parameter_files(conf, env):
        depth = _defined_depth(_read_plain(path), key_path)
        if depth and (best is None or depth > best[0]):
            best = (depth, path)
            if depth == len(key_path):
                break
    return best[1] if best else None


def key_paths(params: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a nested mapping, parents before children:
    ``{"a": {"b": 1}}`` -> ``[("a",), ("a", "b")]``."""
    found: list[tuple[str, ...]] = []
    for key, value in params.items():
        path = (*prefix, str(key))
        found.append(path)
        if isinstance(value, Mapping):
            found += key_paths(value, path)
    return found


# -- settings.py ------------------------------------------------------------------------------


def _read_settings(file: Path) -> tuple[dict[str, Any], list[str]]:
    """The values of ``_SETTINGS_NAMES`` that ``file`` sets, and warnings."""
    try:
        source = file.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(file))
    except OSError as exc:
        raise ProjectConfError(f"{file} cannot be read: {exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise ProjectConfError(
            f"{file}{f':{line}' if line else ''}: not valid Python: {getattr(exc, 'msg', exc)}",
            hint="Kedro imports this file too: fix it",
        ) from None
    statements = _needed_statements(tree.body)
    namespace: dict[str, Any] = {
        "__builtins__": _SAFE_BUILTINS, "__file__": str(file), "__name__": "settings"}
    imported: dict[str, int] = {}  # names imported from modules bricksmith does not load
    loader_names: set[str] = set()  # names imported from kedro.config
    warnings: list[str] = []
    for statement in statements:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            _import(statement, namespace, imported, loader_names)
            continue
        if _is_loader_class(statement):
            warning = _loader_class_warning(file, statement, loader_names)
            if warning:
                warnings.append(warning)
            continue
        code = compile(ast.Module(body=[statement], type_ignores=[]), str(file), "exec")
        try:
            exec(code, namespace)  # noqa: S102 - the project's own settings, a few statements
        except Exception as exc:  # noqa: BLE001 - whatever the statement raises
            names = _assigned(statement)
            if not names & set(_SETTINGS_NAMES) and not _is_call_on_setting(statement):
                for name in names:  # a helper value we cannot have: its users will say so
                    namespace.pop(name, None)
                continue
            raise ProjectConfError(
                f"{file}:{statement.lineno}: bricksmith cannot evaluate "
                f"`{_source_line(source, statement)}` without importing the project: "
                f"{_why(exc, imported)}",
                hint="bricksmith reads CONF_SOURCE and CONFIG_LOADER_ARGS without importing "
                "settings.py; compute them from pathlib/os and literals only (e.g. "
                "CONF_SOURCE = str(Path(__file__).parent / \"conf\"))",
            ) from None
    values = {name: namespace[name] for name in _SETTINGS_NAMES if name in namespace}
    return values, warnings


def _needed_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The top-level statements that define the settings bricksmith reads, in order, with the
    imports, assignments and functions they refer to (by name, transitively)."""
    needed = set(_SETTINGS_NAMES)
    chosen: set[int] = set()
    changed = True
    while changed:
        changed = False
        for index, statement in enumerate(body):
            if index in chosen or not _defines(statement) & needed:
                continue
            if isinstance(statement, ast.FunctionDef) and statement.decorator_list:
                continue
            chosen.add(index)
            changed = True
            if not isinstance(statement, (ast.Import, ast.ImportFrom)):
                needed |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)}
    return [statement for index, statement in enumerate(body) if index in chosen]


def _defines(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.Import):
        return {(a.asname or a.name).split(".")[0] for a in statement.names}
    if isinstance(statement, ast.ImportFrom):
        return {a.asname or a.name for a in statement.names}
    if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
        return {statement.name}
    if _is_call_on_setting(statement):  # CONFIG_LOADER_ARGS.update(...)
        return {statement.value.func.value.id}  # type: ignore[attr-defined]
    return _assigned(statement)


def _assigned(statement: ast.stmt) -> set[str]:
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)) and statement.value is not None:
        targets = [statement.target]
    names = set()
    for target in targets:
        while isinstance(target, (ast.Subscript, ast.Attribute)):  # X["k"] = ..., X.a = ...
            target = target.value
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            names |= {e.id for e in target.elts if isinstance(e, ast.Name)}
    return names


def _is_call_on_setting(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Attribute)
        and isinstance(statement.value.func.value, ast.Name)
        and statement.value.func.value.id in _SETTINGS_NAMES
    )


def _import(statement, namespace: dict, imported: dict[str, int], loader_names: set) -> None:
    import importlib

    if isinstance(statement, ast.Import):
        for alias in statement.names:
            bound = (alias.asname or alias.name).split(".")[0]
            if alias.name in _STDLIB_MODULES:
                module = importlib.import_module(alias.name if alias.asname else bound)
                namespace[bound] = module
            else:
                imported[bound] = statement.lineno
        return
    module_name = statement.module or ""
    for alias in statement.names:
        bound = alias.asname or alias.name
        if statement.level == 0 and module_name in _STDLIB_MODULES:
            module = importlib.import_module(module_name)
            if hasattr(module, alias.name):
                namespace[bound] = getattr(module, alias.name)
                continue
        if module_name == "kedro.config":
            loader_names.add(bound)
        imported[bound] = statement.lineno


def _is_loader_class(statement: ast.stmt) -> bool:
    return "CONFIG_LOADER_CLASS" in _assigned(statement)


def _loader_class_warning(file: Path, statement: ast.stmt, loader_names: set[str]) -> str:
    value = getattr(statement, "value", None)
    name = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", None)
    if name == "OmegaConfigLoader":
        return ""
    return (
        f"{file}:{statement.lineno}: CONFIG_LOADER_CLASS is {name or 'an expression'}, not "
        "Kedro's OmegaConfigLoader: bricksmith reads the configuration with OmegaConfigLoader "
        "and the same CONF_SOURCE, patterns and environments"
    )


def _why(exc: BaseException, imported: Mapping[str, int]) -> str:
    if isinstance(exc, NameError) and getattr(exc, "name", None) in imported:
        return (f"{exc.name!r} comes from the import at line {imported[exc.name]}, "  # type: ignore[attr-defined]
                "which bricksmith does not run")
    return f"{type(exc).__name__}: {exc}"


def _source_line(source: str, statement: ast.stmt) -> str:
    text = ast.get_source_segment(source, statement) or ""
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= 80 else first[:77] + "..."


# -- reading parameter files ------------------------------------------------------------------


def _hidden(conf: ProjectConf, path: Path) -> bool:
    """OmegaConfigLoader._is_hidden: a part of the path below conf_source starts with '.'."""
    try:
        parts = path.resolve().relative_to(conf.conf_source.resolve()).parts
    except ValueError:
        parts = path.parts
    return any(part.startswith(".") for part in parts)


def _read_plain(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _defined_depth(data: Any, key_path: Iterable[str]) -> int:
    depth = 0
    for key in key_path:
        if not isinstance(data, Mapping) or key not in data:
            break
        data = data[key]
        depth += 1
    return depth


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 600 else text[:597] + "..."
