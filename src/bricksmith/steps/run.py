"""run.<name>: one execution of the project notebook, with the run's parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bricksmith.errors import RunFailedError, StepError
from bricksmith.steps.base import Outputs, Step, StepContext


def kedro_params(params: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``{"a": {"b": 1}, "c": 0.7}`` -> ``["a.b=1", "c=0.7"]``, as ``kedro --params`` takes them."""
    items = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items += kedro_params(value, prefix=f"{name}.")
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        elif isinstance(value, (int, float, str)):
            text = str(value)
        else:
            raise StepError(
                f"run parameter {name} is a {type(value).__name__}; "
                "runtime parameters must be scalars or mappings of scalars",
                hint="move list-valued parameters into project.params",
            )
        if "," in text:
            raise StepError(
                f"run parameter {name}={text!r} contains a comma, which kedro --params splits on",
                hint="move it into project.params",
            )
        items.append(f"{name}={text}")
    return items


def load_metrics(exit_value: str | None) -> dict[str, Any]:
    """The run's metrics from the notebook's exit value (a JSON object); {} when absent."""
    if not exit_value:
        return {}
    try:
        value = json.loads(exit_value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


EXIT_VALUE = "notebook exit value"


def merge_metrics(
    exit_metrics: Mapping[str, Any], collected: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(metrics, source of each) from the notebook's exit value and what bricksmith's Kedro
    hooks collected in a local run (``{"metrics": ..., "sources": ...}``). The exit value wins;
    a metric the hooks found with the same value names where it came from too."""
    found = dict((collected or {}).get("metrics") or {})
    where = dict((collected or {}).get("sources") or {})
    metrics: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, value in exit_metrics.items():
        metrics[name] = value
        origin = where.get(name) if name in found and found[name] == value else None
        sources[name] = f"{EXIT_VALUE} ({origin})" if origin else EXIT_VALUE
    for name, value in found.items():
        if name not in metrics:
            metrics[name] = value
            sources[name] = str(where.get(name) or "collected by bricksmith's Kedro hooks")
    return metrics, sources


def describe_sources(sources: Mapping[str, str]) -> str:
    """``source: a, b; other source: c`` for a log line."""
    by_source: dict[str, list[str]] = {}
    for name, source in sources.items():
        by_source.setdefault(source, []).append(name)
    return "; ".join(f"{source}: {', '.join(names)}" for source, names in by_source.items())


class RunNotebook(Step):
    title = "run the project notebook"

    def __init__(
        self,
        *,
        name: str,
        params: Mapping[str, Any],
        timeout_minutes: float,
        data_steps: tuple[str, ...],
    ) -> None:
        self.name = name
        self.key = f"run.{name}"
        self.params = dict(params)
        self.timeout_minutes = timeout_minutes
        # the backend stops the run itself at timeout_minutes; the margin covers set-up
        # (environment build, cluster start) and reading the result
        self.timeout_s = timeout_minutes * 60 + 15 * 60
        self.deps = ("workspace.repo", "notebook.deploy", *data_steps)

    def inputs(self) -> dict[str, Any]:
        return {"params": self.params, "timeout_minutes": self.timeout_minutes}

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return []  # a run's check looks at nothing: it is redone when its inputs change

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        from bricksmith.param_names import check_spec_params

        check_spec_params(ctx.spec, project=False, runs=(self.name,))  # unknown names: refused
        repo = upstream["workspace.repo"]
        notebook = upstream["notebook.deploy"]
        widgets = {
            "params": ",".join(kedro_params(self.params)),
            "data_root": notebook.get("data_root", ""),
        }
        outcome = ctx.backend.run_notebook(
            notebook=notebook["path"],
            run_name=self.name,
            widgets=widgets,
            requirements=f"{repo['path']}/requirements.txt",
            log_dir=ctx.logs_dir / "runs",
            timeout_s=self.timeout_minutes * 60,
            checkpoint=ctx.checkpoint,
            previous=ctx.previous,
            log=ctx.log,
            fingerprint=ctx.fingerprint,
            stream=ctx.log if ctx.verbose else None,  # -v: the Kedro run log, line by line
        )
        if not outcome.ok:
            raise RunFailedError(
                f"run {self.name} failed: {outcome.error or 'the notebook failed'}",
                hint=f"the full log is {outcome.log_path}; fix the project and apply again "
                f"(run.{self.name} runs again, completed steps are skipped)",
                log_tail=outcome.log_tail,
            )
        details = dict(outcome.details)
        metrics, sources = merge_metrics(
            load_metrics(outcome.exit_value), details.pop("collected_metrics", None)
        )
        ctx.log(f"run {self.name} finished: {json.dumps(metrics)}")
        if sources:
            ctx.log(f"metrics from {describe_sources(sources)}")
        return {
            "metrics": metrics,
            "metric_sources": sources,
            "params": self.params,
            "project_params": dict(ctx.spec.workflow.project.params),  # as committed for it
            "commit": repo["commit"],
            "_log": outcome.log_path,
            "_duration_s": round(outcome.duration_s, 2),
            **{f"_{k}": v for k, v in details.items()},
        }
