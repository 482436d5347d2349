"""What ran, on the terminal: ``bricksmith status`` (steps, runs, metric sources), ``runs``
(the runs side by side, each run's log) and ``report`` (the HTML report)."""

from __future__ import annotations

import json

from bricksmith.cli_output import _console, _output_path
from bricksmith.cli_parser import DEFAULT_SPEC
from bricksmith.errors import UsageError


def _run_logs(console, workflow) -> None:
    """Each run's log, one line per run (paths whole: never wrapped by rich)."""
    from bricksmith.runs import log_lines

    lines = log_lines(workflow.status()["runs"], width=console.width)
    if lines:
        console.print("Run logs:", markup=False)
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def _comparison(workflow, status=None):
    from bricksmith.runs import compare_runs

    status = workflow.status() if status is None else status
    return compare_runs(status, workflow.spec.workflow.project.params)


def _runs_table(console, workflow, status=None) -> bool:
    """Print the runs side by side (``status``: already read); False when the spec has none."""
    from bricksmith.runs import rich_table

    status = workflow.status() if status is None else status
    comparison = _comparison(workflow, status)
    if comparison.runs:
        console.print(rich_table(comparison, title=f"Runs (target {workflow.target})",
                                 width=console.width))
    for run in status["runs"]:
        for warning in run.get("warnings") or ():  # raised by Kedro during the run
            console.print(f"warning in run {run['name']}: {warning}", markup=False)
    return bool(comparison.runs)


def _runs(args, workflow) -> int:
    console = _console(args)
    if not _runs_table(console, workflow):
        console.print("The spec has no runs.", markup=False)
    return 0


def _is_run_name(text: str) -> bool:
    """``runs WORD``: a run of ./workflow.yaml when WORD names no file and is no YAML path."""
    from pathlib import Path

    return (not text.endswith((".yaml", ".yml")) and not Path(text).exists()
            and Path(DEFAULT_SPEC).is_file())


def _report(args, workflow) -> int:
    from datetime import datetime, timezone

    from bricksmith.report import render_html, write_report
    from bricksmith.run_history import before_after

    page = render_html(
        _comparison(workflow),
        title=workflow.spec.workflow.name,
        generated_at=datetime.now(timezone.utc),
        changes=before_after(workflow.run_history()),
    )
    out = _output_path(args.out, "report.html") if args.out else workflow.root / "report.html"
    try:
        path = write_report(out, page)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report to {out}: {exc.strerror or exc}",
            hint="pass --out FILE in a folder you can write to",
        ) from None
    print(f"wrote {path}")
    return 0


def _status(args, workflow) -> int:
    status = workflow.status()
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    from bricksmith.runs import fit, shorten_middle

    console = _console(args)
    if status.get("apply"):
        console.print(f"in progress: {status['apply']}", markup=False)
    most = 40 if console.width < 100 else 50  # a longer step name loses its middle
    rows = [[shorten_middle(step["step"], most), step["status"], step.get("finished_at") or "-",
             ((step.get("error") or step.get("note") or "").splitlines() or [""])[0]]
            for step in status["steps"]]
    heads = [("", "step", "run"), ("", "status", "status"), ("", "finished", "finished"),
             ("", "error", "error")]
    table = fit(f"Steps (target {workflow.target})", heads, rows,
                [step["status"] for step in status["steps"]], width=console.width)
    console.print(table)
    _runs_table(console, workflow, status)
    _metric_sources(console, status["runs"])
    return 0


def _metric_sources(console, runs) -> None:
    """Where each run's metrics came from (the notebook's exit value, a metrics dataset...)."""
    from bricksmith.steps.run import describe_sources

    for run in runs:
        if run.get("metric_sources"):
            console.print(
                f"metrics of {run['name']}: {describe_sources(run['metric_sources'])}",
                markup=False,
            )
