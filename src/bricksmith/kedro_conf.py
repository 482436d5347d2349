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
``__file__`` set to the settings file (``bricksmith.kedro_settings``). Kedro is imported
lazily and writes nothing into the project here (no session, no CLI, so no telemetry).

A bottom-layer module: it imports nothing of plan/, engine/, steps/ or backends/.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bricksmith.errors import ProjectConfError
from bricksmith.kedro_settings import read_settings

__all__ = [
    "DEFAULT_CONFIG_PATTERNS",
    "ProjectConf",
    "config_loader",
    "defining_file",
    "key_paths",
    "load_parameters",
    "parameter_files",
    "parameter_folders",
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
_LOADING = threading.Lock()  # OmegaConf's resolver registry is process-global



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
        values, warnings = read_settings(settings_file)
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


def config_loader(conf: ProjectConf, env: str | None = None, runtime_params=None):
    """Kedro's own ``OmegaConfigLoader`` for the project, built as a Kedro session builds it
    (kedro/framework/session/session.py ``_get_config_loader``): ``conf_source``, ``env``
    (None: the project's ``default_run_env``), the project's ``CONFIG_LOADER_ARGS``. Reading
    a key (``loader["catalog"]``) raises Kedro's own errors."""
    from kedro.config import OmegaConfigLoader

    return OmegaConfigLoader(
        conf_source=str(conf.conf_source),
        env=env,
        runtime_params=runtime_params,
        base_env=conf.base_env,
        default_run_env=conf.default_run_env,
        config_patterns={k: list(v) for k, v in conf.config_patterns.items()},
        **dict(conf.loader_args),
    )


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
    from kedro.config import MissingConfigException

    try:
        # OmegaConf's resolvers are process-global: runs checked in parallel threads load
        # one at a time (as Kedro's own loader notes); the warnings are OmegaConf's own
        with _LOADING, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = config_loader(conf, env)["parameters"]
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
