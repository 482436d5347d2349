"""What surrounds one local run on the emulated cluster: its DBFS and volumes, its scratch disk,
and Spark in local mode.

A notebook kernel started with a :class:`RunSandbox` gets (as environment variables):

- where ``dbfs:/`` and ``/Volumes`` are (``<root>/dbfs``, ``<root>/Volumes``), which
  bricksmith's Kedro hooks (``bricksmith/kedro_run``, put on the kernel's path) map the
  catalog's ``/dbfs/X``, ``dbfs:/X`` and ``/Volumes/...`` paths to, and outside which the kernel
  refuses writes to the machine's /dbfs, /FileStore and /Volumes;
- a scratch folder under the target root (``<root>/cluster/<run>``, emptied when the run
  starts, and only when bricksmith made it: a folder of that name the user had is refused,
  never emptied; see ``bricksmith.made``): ``TMPDIR``, the kernel's IPython folder, the file
  the hooks write the run's metrics to, and the kernel's result (``result.json``, read by the
  apply that started the run or by the one that re-attaches to it);
- when the run environment has pyspark: ``JAVA_HOME`` (a clear error when there is no Java),
  and a ``spark-defaults.conf`` for local mode (``local[*]`` unless the project sets a master)
  that keeps Spark's local dirs, warehouse, Derby metastore and JVM temp files in the scratch
  folder. A project's own SparkSession settings (a SparkHooks reading spark.yml) still apply.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bricksmith.backends.runtime_env import has_package
from bricksmith.errors import RunFailedError
from bricksmith.made import Made

HOOKS_PATH = Path(__file__).resolve().parent.parent / "kedro_run"
JAVA_HINT = (
    "install a Java runtime, 17 or newer (for example `apt-get install openjdk-17-jre-headless`), "
    "or set JAVA_HOME to one"
)


@dataclass(frozen=True)
class RunSandbox:
    dbfs: Path  # stands in for dbfs:/ (/dbfs on a cluster)
    volumes: Path  # stands in for /Volumes
    work: Path  # this run's scratch folder, emptied when the run starts
    collect_metrics: bool = True  # the hooks write the run's metrics to metrics_file
    root: Path | None = None  # the target root whose record (bricksmith.made) notes ``work``

    @classmethod
    def under(cls, root: Path, name: str, *, collect_metrics: bool = True) -> RunSandbox:
        """The sandbox of run ``name`` in the emulated workspace at ``root``."""
        root = Path(root).resolve()
        return cls(root / "dbfs", root / "Volumes", root / "cluster" / name, collect_metrics,
                   root)

    @property
    def metrics_file(self) -> Path:
        return self.work / "metrics.json"

    @property
    def result_file(self) -> Path:
        """Where the kernel writes its outcome (``notebook_kernel.py --result``)."""
        return self.work / "result.json"

    def prepare(self, python: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Empty the scratch folder and return the kernel's environment variables for a run
        with ``python`` (raises RunFailedError when it needs Java and there is none)."""
        env = os.environ if env is None else env
        spark = has_package(python, "pyspark")
        java = java_home(env) if spark else None
        self._empty_work()
        tmp = self.work / "tmp"
        tmp.mkdir(parents=True)
        values = {
            "BRICKSMITH_DBFS_ROOT": str(self.dbfs),
            "BRICKSMITH_VOLUMES_ROOT": str(self.volumes),
            "BRICKSMITH_RUN_HOOKS_PATH": str(HOOKS_PATH),
            "TMPDIR": str(tmp),
        }
        if self.collect_metrics:
            values["BRICKSMITH_METRICS_FILE"] = str(self.metrics_file)
        if java is not None:
            values.update(spark_environment(self.work / "spark", tmp, python, java, self.dbfs))
        return values

    def _empty_work(self) -> None:
        """Empty the scratch folder, made (and noted) by bricksmith; RunFailedError when a
        folder of that name is someone else's."""
        if self.root is None:  # the emulator's own folder
            shutil.rmtree(self.work, ignore_errors=True)
            return
        made = Made(self.root)
        if self.work.exists() and not made.owns(self.work) and not _scratch_only(self.work):
            raise RunFailedError(
                f"{self.work} already exists and bricksmith did not make it: a run empties its "
                "scratch folder there, so it does not use this one",
                hint="move that folder away, or give the target a root of its own",
            )
        shutil.rmtree(self.work, ignore_errors=True)
        made.folder(self.work)

    def collected(self) -> dict[str, Any] | None:
        """What the hooks wrote: ``{"metrics": {...}, "sources": {...}}``; None if nothing."""
        try:
            data = json.loads(self.metrics_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            return None
        sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
        return {"metrics": data["metrics"], "sources": sources}


SCRATCH_NAMES = frozenset({"tmp", "spark", "ipython", "metrics.json", "result.json",
                           "kernel.json"})


def _scratch_only(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but what a run puts in its scratch folder (one from
    before runs noted their folders): an empty folder, or a run's tmp, spark, result..."""
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:
        return False
    return all(n in SCRATCH_NAMES or n.startswith((".metrics-", ".result-")) for n in names)


def java_home(env: Mapping[str, str]) -> str:
    """The Java installation Spark will use: ``JAVA_HOME``, else the one of ``java`` on the
    PATH. Raises RunFailedError naming what is missing."""
    configured = env.get("JAVA_HOME")
    if configured:
        if (Path(configured) / "bin" / "java").is_file():
            return configured
        raise RunFailedError(
            f"The project uses Spark, which needs Java, and JAVA_HOME ({configured}) has no "
            "bin/java.",
            hint=f"point JAVA_HOME at a Java installation, or unset it to use `java`; {JAVA_HINT}",
        )
    java = shutil.which("java", path=env.get("PATH"))
    if java is None:
        raise RunFailedError(
            "The project uses Spark (pyspark is in its run environment), which needs Java: "
            "there is no `java` on the PATH and JAVA_HOME is not set.",
            hint=JAVA_HINT,
        )
    return str(Path(os.path.realpath(java)).parent.parent)


def spark_environment(
    folder: Path, tmp: Path, python: Path, java: str, dbfs: Path | None = None
) -> dict[str, str]:
    """Environment variables (and a spark-defaults.conf under ``folder``) for local-mode
    Spark whose files all stay under ``folder`` and ``tmp``.

    With ``dbfs`` (the emulated DBFS root), the driver JVM's working directory (``user.dir``,
    which Hadoop's local file system resolves relative paths against) is that root: a relative
    Spark path lands in the emulated DBFS, as on Databricks, where Spark resolves it against
    the DBFS root ("PySpark code will natively look in DBFS by default", Kedro PR 2385), while
    pandas resolves it against the driver's working directory."""
    dirs = {name: folder / name for name in ("conf", "local", "warehouse", "derby", "hive")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    defaults = {
        "spark.master": "local[*]",
        "spark.sql.warehouse.dir": dirs["warehouse"],
        "spark.hadoop.hive.exec.scratchdir": dirs["hive"],  # else /tmp/hive
        # JVM options of its own go in extraJavaOptions; these come first
        "spark.driver.defaultJavaOptions": f"-Djava.io.tmpdir={tmp} "
        f"-Dderby.system.home={dirs['derby']} -XX:-UsePerfData"
        + (f" {_java_option('user.dir', dbfs)}" if dbfs is not None else ""),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if dbfs is not None:
        dbfs.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key} {value}\n" for key, value in defaults.items())
    (dirs["conf"] / "spark-defaults.conf").write_text(text, encoding="utf-8")
    return {
        "JAVA_HOME": java,
        "SPARK_CONF_DIR": str(dirs["conf"]),
        "SPARK_LOCAL_DIRS": str(dirs["local"]),  # Spark's scratch space (spark.local.dir)
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": str(python),
        "PYSPARK_DRIVER_PYTHON": str(python),
    }


def _java_option(name: str, path: Path) -> str:
    """``-Dname=path``, quoted when the path has a space (Spark splits these options as a
    shell would)."""
    option = f"-D{name}={path}"
    return f'"{option}"' if " " in option else option
