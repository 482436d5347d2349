"""A Databricks REST API emulator that the real databricks-sdk talks to over loopback HTTP.

    with Emulator(tmp_path / "ws", token="t") as emulator:      # serving on 127.0.0.1:<free>
        w = WorkspaceClient(host=emulator.url, token="t")
        w.current_user.me()

It emulates, on disk under ``root`` (see ``paths.py``): the current user, the Workspace API
(notebooks, files, folders), Repos (real git clones) and Git credentials, DBFS and the Files
API for volumes, clusters (start / state), cluster libraries (``requirements`` files) and Jobs
one-time runs, which really execute their notebook in a local IPython kernel inside an
environment built from what their compute installed (the task's libraries, see
``libraries.py``; serverless notebook tasks start fresh and install with their own ``%pip``).
Faults, latency, a bearer token and forbidden paths can be configured, and every processed call
is counted, so a client's retries and idempotency can be tested. Each service module's
docstring lists what is and is not emulated.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bricksmith.emulator.clusters import DEFAULT_CLUSTERS, Cluster, Clusters
from bricksmith.emulator.dbfs import Dbfs
from bricksmith.emulator.executor import NotebookExecutor
from bricksmith.emulator.faults import FaultPolicy
from bricksmith.emulator.jobs import Jobs
from bricksmith.emulator.libraries import Libraries
from bricksmith.emulator.paths import Layout
from bricksmith.emulator.repos import GitCredentials, Repos
from bricksmith.emulator.server import EmulatorHTTPServer, Gateway, Router
from bricksmith.emulator.volumes import Volumes
from bricksmith.emulator.workspace import Workspace

__all__ = ["Cluster", "Emulator", "FaultPolicy", "DEFAULT_CLUSTER_ID", "serve"]

DEFAULT_USER = "someone@example.com"
DEFAULT_CLUSTER_ID = DEFAULT_CLUSTERS[0].cluster_id


class Emulator:
    """One emulated workspace under ``root``, served by :meth:`start` in a daemon thread.

    ``token``: when set, every request needs ``Authorization: Bearer <token>``.
    ``clusters``: the workspace's clusters (default: ``0000-000000-emulator0``, TERMINATED);
    a started cluster is RUNNING ``cluster_start_s`` seconds later.
    ``cache_dir``: where run environments are cached (default ``$BRICKSMITH_CACHE_DIR/envs``,
    the local backend's); ``python``: run every notebook with this interpreter instead of
    building environments (it needs IPython; ``%pip install -r`` lines are then skipped).
    ``run_delay_s``: runs stay RUNNING that long before their notebook starts.
    ``faults``: see :class:`FaultPolicy`. ``forbidden_paths``: path prefixes (workspace, DBFS
    or volume) on which every call is 403 ``PERMISSION_DENIED``. ``volumes``: the volumes that
    exist, as ``"catalog.schema.volume"`` (default: all of them).
    ``serverless``: the workspace has serverless jobs, so a task without
    ``existing_cluster_id`` runs (default: it does not, and such a submit is 400, as on a
    workspace without serverless). ``dbfs_root_disabled``: the workspace setting of new
    accounts that disables DBFS root: every DBFS call is 403 ``PERMISSION_DENIED``.
    ``clock``: monotonic seconds for DBFS handle expiry (tests inject a fake one).
    """

    def __init__(
        self,
        root: Path,
        *,
        user: str = DEFAULT_USER,
        token: str | None = None,
        clusters: Iterable[Cluster] = DEFAULT_CLUSTERS,
        cluster_start_s: float = 0.5,
        cache_dir: Path | None = None,
        python: Path | None = None,
        run_delay_s: float = 0.0,
        faults: FaultPolicy | None = None,
        forbidden_paths: Iterable[str] = (),
        volumes: Iterable[str] | None = None,
        serverless: bool = False,
        dbfs_root_disabled: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_dir is None:
            from bricksmith.cachedir import default_cache_dir

            cache_dir = default_cache_dir() / "envs"
        self.root = Path(root).resolve()
        self.user = user
        self.token = token
        self.layout = Layout(self.root)
        self.layout.create()
        self.workspace = Workspace(self.layout, user)
        self.workspace.create_home()
        self.git_credentials = GitCredentials()
        self.repos = Repos(self.layout, self.workspace, self.git_credentials)
        self.repos.adopt_existing()
        self.dbfs = Dbfs(self.layout, clock=clock, root_disabled=dbfs_root_disabled)
        self.volumes = Volumes(self.layout, volumes)
        self.clusters = Clusters(clusters, cluster_start_s, user)
        executor = NotebookExecutor(
            self.layout, self.workspace, Path(cache_dir), Path(python) if python else None
        )
        self.libraries = Libraries(self.clusters, executor.build)
        self.libraries.log_folder = self.layout.jobs
        self.jobs = Jobs(executor, self.clusters, user, run_delay_s, serverless, self.libraries)
        services = (
            self.workspace,
            self.repos,
            self.git_credentials,
            self.dbfs,
            self.volumes,
            self.clusters,
            self.libraries,
            self.jobs,
        )
        router = Router(route for service in services for route in service.routes())
        self.gateway = Gateway(
            router,
            token=token,
            faults=faults or FaultPolicy(),
            forbidden=forbidden_paths,
            user=user,
        )
        self.url: str | None = None
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- serving -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL (``http://host:port``)."""
        if self._server is not None:
            raise RuntimeError("the emulator is already serving")
        self._server = EmulatorHTTPServer((host, port), self.gateway)
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self.jobs.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="bricksmith-emulator",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, cancel active runs (their kernels are killed) and wait for them."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.jobs.stop()

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observation and control (tests) -----------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """A snapshot of the processed (not faulted) requests: ``"METHOD /path" -> count``."""
        return self.gateway.calls

    @property
    def faults_injected(self) -> int:
        return self.gateway.faults_injected

    def reset_counts(self) -> None:
        self.gateway.reset_counts()

    def set_faults(self, policy: FaultPolicy) -> None:
        """Change the fault policy while serving (e.g. after a test's setup)."""
        self.gateway.set_faults(policy)

    @property
    def runs(self) -> list[dict[str, Any]]:
        """Every submitted run as ``runs/get`` answers it, oldest first."""
        return self.jobs.snapshot()

    def run_log(self, task_run_id: int) -> Path:
        """The log of a task run (its notebook's output, environment build included)."""
        return self.layout.jobs / f"{task_run_id}.log"

    def library_counts(self) -> dict[str, Any]:
        """What compute installed, for tests and the benchmark: ``{"cluster_installs":
        {cluster id: installs}, "runs": [{"run_id", "task_run_id", "run_name", "library_installs",
        "notebook_installs", "restarts", "result"}, ...]}`` (oldest run first)."""
        return {**self.libraries.counts(), "runs": self.jobs.library_report()}

    def cluster_state(self, cluster_id: str = DEFAULT_CLUSTER_ID) -> str:
        return self.clusters.state(cluster_id)

    def set_cluster_state(self, cluster_id: str, state: str) -> None:
        self.clusters.set_state(cluster_id, state)


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    root: Path | str = ".bricksmith/emulator",
    *,
    token: str | None = None,
    fault_rate: float = 0.0,
    latency_ms: float = 0.0,
    seed: int | None = None,
    user: str = DEFAULT_USER,
    python: Path | str | None = None,
    run_delay_s: float = 0.0,
    cluster_id: str = DEFAULT_CLUSTER_ID,
    serverless: bool = False,
    dbfs_root_disabled: bool = False,
    token_env: str | None = None,
    ready: Callable[[str], None] | None = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve an emulated workspace under ``root`` until interrupted (Ctrl-C, SIGTERM) or
    ``stop`` is set: what ``bricksmith emulator serve`` runs. ``ready`` is called with each
    line of :func:`usage` once serving (default: printed). ``token_env`` names the variable
    that holds ``token``, for the usage lines (the token itself is never shown)."""
    faults = FaultPolicy(rate=fault_rate, latency_ms=latency_ms, seed=seed)
    emulator = Emulator(
        Path(root),
        user=user,
        token=token,
        python=Path(python) if python else None,
        run_delay_s=run_delay_s,
        faults=faults,
        clusters=(Cluster(cluster_id),),
        serverless=serverless,
        dbfs_root_disabled=dbfs_root_disabled,
    )
    stop = stop or threading.Event()
    url = emulator.start(host, port)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if ready is not None:
            for line in usage(emulator, url, token_env):
                ready(line)
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                pass
    finally:
        emulator.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def usage(emulator: Emulator, url: str, token_env: str | None = None) -> list[str]:
    """What a user must export to point databricks-sdk, the Databricks CLIs or a
    ``backend: databricks`` target at this emulator: host, token, cluster id. Never the token's
    value: with one required, the line names the variable that holds it."""
    cluster = next(iter(emulator.clusters.ids()), DEFAULT_CLUSTER_ID)
    if emulator.token is None:
        token = "export DATABRICKS_TOKEN=anything    # any token works: none is checked"
    elif token_env:
        token = f'export DATABRICKS_TOKEN="${token_env}"    # this token is required'
    else:
        token = "export DATABRICKS_TOKEN=<the token given>    # this token is required"
    compute = "serverless jobs enabled" if emulator.jobs.serverless else "no serverless jobs"
    dbfs = "DBFS root disabled" if emulator.dbfs.root_disabled else "DBFS root enabled"
    return [
        f"Databricks API emulator serving {emulator.root} at {url} (user {emulator.user}; "
        f"{compute}; {dbfs})",
        "Point a client or a `backend: databricks` target at it with:",
        f"  export DATABRICKS_HOST={url}",
        f"  {token}",
        f"  export DATABRICKS_CLUSTER_ID={cluster}",
        f"Run pages: {url}/ . Stop with Ctrl-C.",
    ]
