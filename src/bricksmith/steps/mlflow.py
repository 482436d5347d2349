"""mlflow.<run>: a run's effective params and its metrics, logged once to an MLflow run.

The MLflow run is tagged with the run's name and this step's fingerprint (which covers the
run step's params, metrics and commit), so a repeated apply finds it instead of logging it
twice, and a changed result logs a new one. MLflow is imported only inside check()/apply().
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from numbers import Real
from typing import TYPE_CHECKING, Any

from bricksmith.errors import BackendError, StepError
from bricksmith.fingerprints import fingerprint, material
from bricksmith.redact import redact
from bricksmith.steps.base import Outputs, Step, StepContext

if TYPE_CHECKING:
    from bricksmith.spec import LoadedSpec

TAG_RUN, TAG_FINGERPRINT = "bricksmith.run", "bricksmith.fingerprint"
# a param whose name has one of these words is never sent (a spec holds no secrets, but be sure)
_SECRET = re.compile(
    r"(^|[._-])(password|passwd|secret|token|api_?key|credentials?)($|[._-])", re.IGNORECASE
)
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /:]")  # what MLflow accepts in names


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (empty mappings vanish; lists stay whole)."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    items: dict[str, Any] = {}
    for key, item in value.items():
        items.update(flat(item, f"{prefix}.{key}" if prefix else str(key)))
    return items


def effective_params(project: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, str]:
    """The project's params overridden by the run's (as ``kedro --params`` does), as strings."""
    merged = {**flat(project), **flat(run)}
    return {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in merged.items()}


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics MLflow can hold: numbers (nested keys dotted); the rest is left out."""
    return {
        k: float(v)
        for k, v in flat(metrics).items()
        if isinstance(v, Real) and not isinstance(v, bool)
    }




def mlflow_steps(spec: LoadedSpec, target: str) -> list[Step]:
    """One ``mlflow.<run>`` step per run when the spec enables MLflow, else none."""
    wf = spec.workflow
    if wf.mlflow is None or not wf.mlflow.enabled:
        return []
    settings = wf.targets[target]
    experiments = threading.Lock()  # the steps run in parallel: one creates the experiment
    return [
        LogToMLflow(
            run=r.name,
            workflow=wf.name,
            params=effective_params(wf.project.params, r.params),
            experiment=wf.mlflow.experiment,
            tracking_uri=wf.mlflow.tracking_uri,
            backend=settings.backend,
            profile=getattr(settings, "profile", None),
            experiments=experiments,
        )
        for r in wf.runs
    ]


class LogToMLflow(Step):
    title = "log the run's params and metrics to MLflow"
    timeout_s = 10 * 60

    def __init__(
        self,
        *,
        run: str,
        workflow: str,
        params: Mapping[str, str],
        experiment: str | None,
        tracking_uri: str | None,
        backend: str,
        profile: str | None = None,
        experiments: threading.Lock | None = None,
    ) -> None:
        self.run, self.workflow, self.params = run, workflow, dict(params)
        self.experiments = experiments or threading.Lock()  # shared by one graph's steps
        self.experiment, self.tracking_uri = experiment, tracking_uri
        self.backend, self.profile = backend, profile
        self.key = f"mlflow.{run}"
        self.deps = (f"run.{run}",)

    def inputs(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "experiment": self.experiment,
            "tracking_uri": self.tracking_uri,
            "backend": self.backend,
            "profile": self.profile,
        }

    # -- where ---------------------------------------------------------------------------------

    def resolve_uri(self, ctx: StepContext) -> str:
        """The tracking URI: as given (a plain path is relative to the spec), else the
        target's default: ``<root>/mlruns`` locally, the workspace's MLflow on Databricks."""
        uri = self.tracking_uri
        if uri is None:
            if self.backend == "databricks":
                return f"databricks://{self.profile}" if self.profile else "databricks"
            return (ctx.root / "mlruns").resolve().as_uri()
        if "://" not in uri and not uri.startswith("file:") and uri != "databricks":
            return ctx.spec.resolve_path(uri).resolve().as_uri()
        return uri

    def resolve_experiment(self, ctx: StepContext) -> str:
        if self.experiment:
            return self.experiment
        if self.backend == "databricks":
            return f"/Users/{ctx.backend.user}/{self.workflow}"
        return self.workflow

    # -- the step ------------------------------------------------------------------------------

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        run_id = outputs.get("run_id")
        if not run_id:
            return ["no MLflow run is recorded"]
        uri = self.resolve_uri(ctx)
        with mlflow_errors(uri, "read the MLflow run"):
            from mlflow.exceptions import MlflowException

            client = _client(uri)
            try:
                run = client.get_run(run_id)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return [f"MLflow run {run_id} is gone from {redact(uri)}"]
                raise
        if run.info.lifecycle_stage == "deleted":
            return [f"MLflow run {run_id} was deleted"]
        if run.data.tags.get(TAG_FINGERPRINT) != outputs.get("fingerprint"):
            return [f"MLflow run {run_id} holds another result"]
        return []

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        result = upstream[f"run.{self.run}"]
        fp = ctx.fingerprint or fingerprint(material(self.inputs(), upstream))
        uri = self.resolve_uri(ctx)
        experiment = self.resolve_experiment(ctx)
        with mlflow_errors(uri, f"log run {self.run} to experiment {experiment}"):
            client = _client(uri)
            experiment_id = _experiment_id(client, experiment, ctx.log, self.experiments)
            run_id = self._find(client, experiment_id, fp)
            if run_id:
                ctx.log(f"MLflow run {run_id} already holds this result")
            else:
                run_id = self._log(client, experiment_id, fp, result, ctx)
        return {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "experiment": experiment,
            "tracking_uri": redact(uri),
            "fingerprint": fp,
        }

    def _find(self, client, experiment_id: str, fp: str) -> str | None:
        """A finished MLflow run with this result; leftovers of an interrupted apply go."""
        runs = client.search_runs(
            [experiment_id],
            f"tags.`{TAG_FINGERPRINT}` = '{fp}' and tags.`{TAG_RUN}` = '{self.run}'",
        )
        done = [r.info.run_id for r in runs if r.info.status == "FINISHED"]
        for r in runs:
            if r.info.status != "FINISHED":
                client.delete_run(r.info.run_id)
        return done[0] if done else None

    def _log(self, client, experiment_id: str, fp: str, result: Outputs, ctx) -> str:
        from mlflow.entities import Metric, Param

        tags = {
            TAG_RUN: self.run,
            TAG_FINGERPRINT: fp,
            "bricksmith.workflow": self.workflow,
            "bricksmith.target": ctx.target,
        }
        if result.get("commit"):
            tags["mlflow.source.git.commit"] = str(result["commit"])
        if result.get("_run_page_url"):
            tags["bricksmith.run_page_url"] = str(result["_run_page_url"])
        used = self.params  # what the run step says it ran with, when it says so
        if isinstance(result.get("effective_params"), dict):  # what Kedro reported using
            used = effective_params(result["effective_params"], {})
        elif "project_params" in result:
            used = effective_params(result["project_params"], result.get("params") or {})
        hidden = sorted(k for k in used if _SECRET.search(k))
        params = [Param(_name(k), v) for k, v in used.items() if k not in hidden]
        metrics = numeric_metrics(result.get("metrics") or {})
        now = int(time.time() * 1000)
        run = client.create_run(experiment_id, tags=tags, run_name=self.run)
        run_id = run.info.run_id
        for chunk in _chunks(params, 100):  # MLflow's batch limits
            client.log_batch(run_id, params=chunk)
        for chunk in _chunks([Metric(_name(k), v, now, 0) for k, v in metrics.items()], 1000):
            client.log_batch(run_id, metrics=chunk)
        client.set_terminated(run_id, "FINISHED")
        if hidden:
            ctx.log(f"left out params that look like secrets: {', '.join(hidden)}")
        ctx.log(f"MLflow run {run_id}: {len(params)} params, {len(metrics)} metrics")
        return run_id


def _name(key: str) -> str:
    return _BAD_KEY_CHARS.sub("_", key)[:250]


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _client(uri: str):
    if uri.startswith("file:"):
        # MLflow 3 keeps its file store behind an opt-in; the local default uses it on purpose
        # (no database dependency, readable files). An explicit setting is respected.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    # bricksmith calls MLflow on the user's behalf: no usage data unless they opt in themselves
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _experiment_id(client, name: str, log, lock: threading.Lock) -> str:
    from mlflow.exceptions import MlflowException

    with lock:
        found = client.get_experiment_by_name(name)
        if found is None:
            try:
                return client.create_experiment(name)
            except MlflowException as exc:  # created meanwhile by another process
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = client.get_experiment_by_name(name)
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
            log(f"restored the deleted MLflow experiment {name}")
        return found.experiment_id


@contextmanager
def mlflow_errors(uri: str, action: str) -> Iterator[None]:
    """Map a missing MLflow and MLflow's errors into bricksmith errors (no secret shown)."""
    where = redact(uri)
    try:
        yield
    except ImportError as exc:
        if "mlflow" not in str(exc):
            raise
        raise BackendError(
            "the spec enables MLflow (mlflow:) but MLflow is not installed",
            hint="pip install 'bricksmith[mlflow]' (mlflow-skinny), or set mlflow.enabled: false",
        ) from None
    except StepError:
        raise
    except Exception as exc:
        if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] != "mlflow":
            raise  # a bug, not MLflow's answer
        lines = redact(getattr(exc, "message", None) or str(exc)).strip().splitlines()
        message = lines[0] if lines else type(exc).__name__
        hint = "check mlflow.tracking_uri and mlflow.experiment, then apply again"
        if where.startswith("databricks"):
            hint = (
                "log in with `databricks auth login` (or set DATABRICKS_HOST and "
                "DATABRICKS_TOKEN, or a target profile), then apply again"
            )
        raise StepError(
            f"MLflow at {where} could not {action}: {message}",
            hint=hint,
        ) from None
