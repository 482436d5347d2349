"""run.<name>: one execution of the project notebook, with the run's parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bricksmith.errors import RunFailedError, StepError
from bricksmith.notebook import params_widgets
from bricksmith.run_logs import execution_log
from bricksmith.run_outputs import run_output_locks
from bricksmith.run_params import (
    NotebookReport,
    compare,
    deep_merge,
    defining_file,
    dotted,
    effective_of,
    leaves,
    read_exit_value,
    show,
)
from bricksmith.steps.base import Outputs, Step, StepContext

# A job run's base_parameters may hold 1 MB of JSON (Jobs API, NotebookTask.base_parameters).
MAX_WIDGETS_BYTES = 1_000_000


def load_metrics(exit_value: str | None) -> dict[str, Any]:
    """The run's metrics from the notebook's exit value; {} when absent."""
    return dict(read_exit_value(exit_value).metrics)


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

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        """A run's check reads only its record: one without its result (emptied, damaged)
        is run again rather than taken as done with no metrics."""
        missing = [key for key in ("metrics", "commit") if key not in outputs]
        if missing:
            return [f"its record holds no result ({', '.join(missing)} missing): "
                    "the run runs again"]
        return []

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return []  # the check reads the record alone, which the state's revision covers

    def interrupted(self, outputs: Outputs, inputs: Mapping[str, Any], *,
                    superseded: bool) -> list[str]:
        """The job run a killed apply left (a Databricks checkpoint: ``_pending``, ``_run_id``,
        ``_result``) and what apply does with it: cancel it (other params), adopt its result
        (finished), or re-attach to it."""
        if not outputs.get("_pending"):
            return []
        run_id, ended = outputs.get("_run_id"), outputs.get("_result")
        if run_id is None:
            return ["its job run was submitted without an answer: "
                    + ("if it started, it is not cancelled" if superseded else
                       "apply submits again with the same idempotency token, which returns "
                       "that run if it exists")]
        if not superseded:
            return [f"job run {run_id} finished ({ended}): apply adopts its result" if ended
                    else f"job run {run_id} was not seen to finish: apply re-attaches to it"]
        if ended:
            return [f"job run {run_id} of the earlier inputs finished ({ended}); "
                    "apply submits the run anew"]
        params = inputs.get("params") or {}
        shown = ", ".join(f"{dotted(path)}={show(value)}" for path, value in leaves(params))
        shown = shown or "no params"
        return [f"job run {run_id} (params {shown}) may still be in flight: apply cancels it "
                "before submitting the new run"]

    def widgets(self, data_root: str) -> dict[str, str]:
        """The notebook's widget values: the params as one JSON object, and data_root."""
        try:
            widgets = params_widgets(self.params, data_root)
        except ValueError as exc:  # NaN, infinity: JSON has no spelling for them
            raise StepError(
                f"run {self.name}: its params cannot be passed as JSON: {exc}",
                hint="use finite numbers, strings, booleans, null, lists and mappings",
            ) from None
        size = len(json.dumps(widgets).encode())
        if size > MAX_WIDGETS_BYTES:
            raise StepError(
                f"run {self.name}: its params take {size} bytes of JSON; a Databricks job run "
                f"takes at most {MAX_WIDGETS_BYTES}",
                hint="move the big values into project.params (conf/base/parameters.yml)",
            )
        return widgets

    def check_params(
        self, ctx: StepContext, report: NotebookReport, asked: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The asked keys' effective values (None when the notebook did not report them).
        Raises RunFailedError when Kedro used another value for any asked key."""
        if report.effective_params is None:
            ctx.log(f"run {self.name}: the notebook did not report the parameters Kedro used")
            return None
        mismatches = compare(asked, report.effective_params)
        if report.partial:  # only the runtime keys were reported: absent ones are unknown
            mismatches = [m for m in mismatches if not m.missing]
        if mismatches:
            project_dir = ctx.spec.project_dir
            lines = [
                m.describe(None if m.missing else defining_file(project_dir, m.path, m.got))
                for m in mismatches
            ]
            raise RunFailedError(
                f"run {self.name} ran with other parameters than the spec asked for: "
                + "; ".join(lines),
                hint="a value in the project's conf (an environment's parameters file) or a "
                "hook overrides it; change it there or in the spec, then apply again",
            )
        return effective_of(asked, report.effective_params)

    def history_entry(self, outputs: Outputs | None) -> dict[str, Any]:
        """{params, effective_params, metrics, commit, duration_s, log} of one execution
        (the spec's params only, when it failed)."""
        if outputs is None:
            return {"params": self.params}
        return {
            "params": self.params,
            "effective_params": outputs.get("effective_params"),
            "metrics": outputs.get("metrics") or {},
            "commit": outputs.get("commit"),
            "duration_s": outputs.get("_duration_s"),
            "log": outputs.get("_log"),
        }

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        from bricksmith.param_names import check_spec_params

        check_spec_params(ctx.spec, project=False, runs=(self.name,))  # unknown names: refused
        repo = upstream["workspace.repo"]
        notebook = upstream["notebook.deploy"]
        widgets = self.widgets(notebook.get("data_root", ""))
        previous = ctx.previous
        if ctx.replaced and previous.get("_pending"):
            # run anew on request: the run an interrupted apply left is superseded (stopped
            # or cancelled first, as one of other params), never re-attached to or adopted
            previous = {**previous, "_fingerprint": None}
            ctx.log(f"run {self.name} replaced on request: the run an interrupted apply left "
                    "is not adopted")
        # this execution's own log (logs/runs/NAME/<start>.log; logs/runs/NAME.log points at
        # it): noted as made, so destroy removes it
        log_path = execution_log(ctx.root, ctx.logs_dir, self.name, previous, ctx.fingerprint)
        # runs that write the same outputs take turns: the call holds their locks
        outcome = run_output_locks(ctx, self.key, self.params).around(ctx.backend.run_notebook)(
            notebook=notebook["path"],
            run_name=self.name,
            widgets=widgets,
            requirements=f"{repo['path']}/requirements.txt",
            log_dir=ctx.logs_dir / "runs",
            log_path=log_path,
            timeout_s=self.timeout_minutes * 60,
            checkpoint=ctx.checkpoint,
            previous=previous,
            log=ctx.log,
            fingerprint=ctx.fingerprint,
            stream=ctx.stream,  # the run's own log, line by line (its position; -v shows it)
        )
        if not outcome.ok:
            failed = RunFailedError(
                f"run {self.name} failed: {outcome.error or 'the notebook failed'}",
                hint=f"the full log is {outcome.log_path}; fix the project and apply again "
                f"(run.{self.name} runs again, completed steps are skipped)",
                log_tail=outcome.log_tail,
            )
            failed.log_path = outcome.log_path  # what the run history keeps of it
            raise failed
        details = dict(outcome.details)
        report = read_exit_value(outcome.exit_value)
        backend_warnings = [str(w) for w in details.pop("warnings", [])]  # e.g. output cut
        for warning in report.warnings:
            ctx.log(f"run {self.name} warned: {warning}")
        project_params = dict(ctx.spec.workflow.project.params)  # as committed for it
        effective = self.check_params(ctx, report, deep_merge(project_params, self.params))
        metrics, sources = merge_metrics(report.metrics, details.pop("collected_metrics", None))
        ctx.log(f"run {self.name} finished: {json.dumps(metrics)}")
        if sources:
            ctx.log(f"metrics from {describe_sources(sources)}")
        return {
            "metrics": metrics,
            "metric_sources": sources,
            "params": self.params,
            "project_params": project_params,
            "effective_params": effective,
            "warnings": list(report.warnings) + backend_warnings,
            "commit": repo["commit"],
            "_log": outcome.log_path,
            "_duration_s": round(outcome.duration_s, 2),
            **{f"_{k}": v for k, v in details.items()},
        }
