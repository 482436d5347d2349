"""``bricksmith runs --history`` / ``runs NAME`` / ``runs --json``: every recorded execution
of the runs and what changed between each run's last two (``bricksmith.run_history``)."""

from __future__ import annotations

import json
from typing import Any

from bricksmith.errors import UsageError
from bricksmith.run_history import before_after, delta, metric_text, rich_history


def runs_json(workflow, name: str | None = None) -> dict[str, Any]:
    """{target, runs: the latest of each (as ``status`` gives them), history: every
    execution oldest first, changes: each run's last two succeeded executions compared}."""
    status = workflow.status()
    history = workflow.run_history()
    if name is not None:
        status["runs"] = [run for run in status["runs"] if run["name"] == name]
        history = [e for e in history if e["run"] == name]
    return {"target": status["target"], "runs": status["runs"], "history": history,
            "changes": [change.to_json() for change in before_after(history)]}


def show_runs(workflow, console, *, name: str | None = None, as_json: bool = False) -> int:
    """Print the run history (of run ``name`` only, when given). Raises UsageError for a
    name the spec has no run of."""
    names = [run.name for run in workflow.spec.workflow.runs]
    if name is not None and name not in names:
        raise UsageError(f"the spec has no run {name!r}",
                         hint=f"its runs are: {', '.join(names) or 'none'}")
    data = runs_json(workflow, name)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    history = data["history"]
    if not history:
        console.print("No recorded executions yet: apply runs them.", markup=False)
        return 0
    console.print(rich_history(history, title=f"Run history (target {workflow.target})",
                               width=console.width))
    for change in before_after(history):
        console.print(f"run {change.run}, execution {change.before} → {change.after}: "
                      f"{change.describe()}", markup=False)
        for metric, old, new in change.metrics:
            moved = delta(old, new)
            console.print(f"    {metric}: {metric_text(old)} → {metric_text(new)}"
                          + (f" ({moved})" if moved else ""), markup=False)
    return 0
