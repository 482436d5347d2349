"""A project's Data Catalog as one run resolves it, read the way Kedro reads it.

A notebook run loads the project with ``%reload_kedro <repo>`` and runtime parameters: the
``data_root`` widget (the FUSE path of the spec's first data target, ``/dbfs/X`` for
``dbfs:/X``) followed by the run's ``params`` (``bricksmith.notebook``). Kedro's
``OmegaConfigLoader`` resolves ``${runtime_params:...}`` and ``${globals:...}`` in
``catalog*`` files of the base and run environments with exactly those values
(kedro/config/omegaconf_config.py, Kedro 1.x); this module does the same, without importing
the project, starting a session or loading credentials, and returns what each dataset is:

    CatalogDataset(name="y_pred", type="pickle.PickleDataset",
                   path="/dbfs/FileStore/iris/data/07_model_output/y_pred.pkl",
                   versioned=True, persisted=True, layer=None, pattern=False)

Dataset factories (a name with ``{placeholders}``, ``"{name}_data"``) are matched against the
pipeline's dataset names when Kedro builds the catalog; without importing the pipeline they
cannot be resolved, so they are listed with ``pattern=True`` and their path as written.

The project's configuration layout (``CONF_SOURCE``, base/run environments, the config
patterns) comes from ``bricksmith.kedro_conf.read_project_conf`` (its ``settings.py``).
A bottom-layer module: Kedro is imported lazily.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bricksmith.errors import ProjectConfError

# Datasets that keep their data in the run's memory (kedro.io): nothing persists.
MEMORY_TYPES = frozenset({"MemoryDataset", "SharedMemoryDataset"})
_RUNTIME_KEY = re.compile(r"\$\{\s*runtime_params\s*:\s*([^,}\s]+)")


@dataclass(frozen=True)
class CatalogDataset:
    """One catalog entry as a run resolves it.

    ``type`` as written (``pandas.CSVDataset``; "" when absent); ``path`` its ``filepath`` or
    ``path`` (of the wrapped ``dataset`` for a ``CachedDataset``), None when it has none;
    ``persisted`` False for ``MemoryDataset``/``SharedMemoryDataset``; ``layer`` from
    ``metadata: {kedro-viz: {layer: ...}}`` (or a top-level ``layer``); ``pattern`` True for a
    dataset factory, whose ``name`` and ``path`` keep their ``{placeholders}``."""

    name: str
    type: str
    path: str | None
    versioned: bool
    persisted: bool
    layer: str | None = None
    pattern: bool = False


@dataclass(frozen=True)
class RunCatalog:
    """The catalog of one run: its datasets (factories included, ``pattern=True``), the
    environment it was resolved for, and every file under the configuration folders it may
    read (for plan memo probes)."""

    project_dir: Path
    env: str
    datasets: tuple[CatalogDataset, ...]
    conf_files: tuple[Path, ...] = ()
    conf_folders: tuple[Path, ...] = ()

    @property
    def patterns(self) -> tuple[CatalogDataset, ...]:
        return tuple(d for d in self.datasets if d.pattern)

    def dataset(self, name: str) -> CatalogDataset | None:
        return next((d for d in self.datasets if d.name == name), None)


def project_conf(project_dir: str | os.PathLike):
    """Where and how Kedro reads the project's configuration (``kedro_conf.ProjectConf``):
    ``conf_source``, ``base_env``, ``default_run_env``, ``config_patterns``, from its
    ``settings.py``. Raises :class:`ProjectConfError`."""
    from bricksmith.kedro_conf import read_project_conf

    return read_project_conf(project_dir)


def fuse_path(target: str) -> str:
    """A data target as a notebook on Databricks opens it: ``dbfs:/X`` -> ``/dbfs/X``;
    ``/Volumes/...`` unchanged (trailing slashes dropped)."""
    if target.startswith("dbfs:/"):
        return "/dbfs/" + target[len("dbfs:/"):].strip("/")
    return target.rstrip("/") or "/"


def run_runtime_params(data_target: str | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime parameters a notebook run gives Kedro: ``data_root`` (the FUSE path of the
    spec's first data target; "" without one), then the run's own ``params`` (which win)."""
    return {"data_root": fuse_path(data_target) if data_target else "", **dict(params)}


def referenced_runtime_params(project_dir: str | os.PathLike) -> frozenset[str] | None:
    """The ``${runtime_params:KEY}`` keys the catalog and globals files mention; None when the
    configuration cannot be read (resolve each run then). Two runs whose values of these keys
    agree resolve the same catalog."""
    try:
        conf = project_conf(project_dir)
        keys: set[str] = set()
        for path in [*_conf_files(conf, None), *_conf_files(conf, conf.run_env())]:
            if path.suffix in (".yml", ".yaml", ".json"):
                keys |= set(_RUNTIME_KEY.findall(path.read_text(encoding="utf-8")))
        return frozenset(keys)
    except (ProjectConfError, OSError, UnicodeDecodeError):
        return None


def conf_paths(project_dir: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """(files, folders) a run's catalog may be read from: ``pyproject.toml``, ``settings.py``,
    the conf source folder and every file and folder of the base and default run
    environments (for plan memo probes). Raises
    :class:`ProjectConfError`."""
    conf = project_conf(project_dir)
    envs = (None, conf.run_env())
    files = [*conf.files_read, *(f for env in envs for f in _conf_files(conf, env))]
    return files, [conf.conf_source, *(f for env in envs for f in _conf_folders(conf, env))]


def resolve_catalog(
    project_dir: str | os.PathLike,
    *,
    runtime_params: Mapping[str, Any],
    env: str | None = None,
) -> RunCatalog:
    """The catalog of the Kedro project at ``project_dir`` as a run in environment ``env``
    (default: the project's ``default_run_env``) with ``runtime_params`` sees it.

    Raises :class:`ProjectConfError` when the project cannot be read as Kedro reads it (no
    ``[tool.kedro]``, an environment folder missing, a catalog file Kedro refuses, an
    interpolation that fails), naming the project and Kedro's message."""
    conf = project_conf(project_dir)
    run_env = conf.run_env(env)
    for name in dict.fromkeys((conf.base_env, run_env)):
        folder = conf.env_dir(name)
        if name and not folder.is_dir():
            raise ProjectConfError(
                f"the configuration environment {name!r} of {conf.project_dir} has no folder "
                f"{conf.describe(folder)}: Kedro cannot load its catalog",
                hint=f"create {conf.describe(folder)} (with a .gitkeep, so git keeps it)",
            )
    from kedro.config import MissingConfigException, OmegaConfigLoader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OmegaConf's deprecation notes are not the user's
            loader = OmegaConfigLoader(
                conf_source=str(conf.conf_source),
                env=env,
                base_env=conf.base_env,
                default_run_env=conf.default_run_env,
                config_patterns={k: list(v) for k, v in conf.config_patterns.items()},
                runtime_params=json.loads(json.dumps(dict(runtime_params), default=str)),
                **dict(conf.loader_args),
            )
            config = loader["catalog"]
    except MissingConfigException:
        config = {}
    except Exception as exc:  # noqa: BLE001 - Kedro's and OmegaConf's errors, mapped here
        message = " ".join(str(exc).split())[:300]
        raise ProjectConfError(
            f"Kedro cannot load the catalog of {conf.project_dir}: "
            f"{type(exc).__name__}: {message}",
            hint="fix the project's catalog files; `kedro catalog list` shows what Kedro sees",
        ) from None
    datasets = tuple(
        _dataset(str(name), entry)
        for name, entry in sorted((config or {}).items())
        if not str(name).startswith("_") and isinstance(entry, Mapping)
    )
    return RunCatalog(
        project_dir=conf.project_dir,
        env=run_env,
        datasets=datasets,
        conf_files=tuple(
            [*conf.files_read, *_conf_files(conf, None), *_conf_files(conf, run_env)]),
        conf_folders=tuple([*_conf_folders(conf, None), *_conf_folders(conf, run_env)]),
    )


def _dataset(name: str, entry: Mapping[str, Any]) -> CatalogDataset:
    kind = str(entry.get("type") or "")
    inner = entry.get("dataset")  # CachedDataset (and wrappers) keep the data in it
    path = entry.get("filepath", entry.get("path"))
    if path is None and isinstance(inner, Mapping):
        path = inner.get("filepath", inner.get("path"))
    metadata = entry.get("metadata")
    viz = metadata.get("kedro-viz") if isinstance(metadata, Mapping) else None
    layer = viz.get("layer") if isinstance(viz, Mapping) else entry.get("layer")
    return CatalogDataset(
        name=name,
        type=kind,
        path=None if path is None else str(path),
        versioned=bool(entry.get("versioned")),
        persisted=kind.rsplit(".", 1)[-1] not in MEMORY_TYPES,
        layer=None if layer is None else str(layer),
        pattern="{" in name,
    )


def _conf_files(conf, env: str | None) -> list[Path]:
    """Every file of one environment's folder (what a catalog or globals pattern may match)."""
    found = []
    for folder in _conf_folders(conf, env):
        try:
            found += sorted(p for p in folder.iterdir() if p.is_file())
        except OSError:
            continue
    return found


def _conf_folders(conf, env: str | None) -> list[Path]:
    folder = conf.env_dir(env)
    if not folder.is_dir():
        return []
    found = [folder]
    for root, dirs, _files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / d for d in dirs]
    return found
