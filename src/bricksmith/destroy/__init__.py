"""``bricksmith destroy``: remove what apply made in a target, as its state recorded it.

Removed: the workspace repo (Git folder), the deployed notebook and its ``.bricksmith/<name>``
folder, the files each ``data.upload`` wrote (the ones in its manifest; folders this leaves
empty go too), then the target's own files: the logs and local runs' scratch folders that
bricksmith made in ``logs/`` and ``cluster/`` (as ``bricksmith.made`` recorded them; the
folders go once empty, other files in them stay), ``state.db`` and its backup, that record,
the lock. Kept: the local Kedro project, the git remote and its history, MLflow runs, job run
history, the workspace's git credential, and files others wrote next to the uploaded ones.

The state goes last, and only when everything else went: after a partial failure it still
records what remains, so ``destroy`` can simply be run again.

What would go is :mod:`.plan`, the removal :mod:`.removal`; this module is the command: show
the plan, confirm, remove, report.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from bricksmith.destroy.plan import DestroyPlan, destroy_plan
from bricksmith.destroy.removal import execute
from bricksmith.errors import BackendError, UsageError
from bricksmith.redact import redact


class DestroyFailed(BackendError):
    """Some items could not be removed; the state was kept and still records them."""

    def __init__(self, message: str, *, hint: str | None = None, result=None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


def print_plan(console, plan: DestroyPlan) -> None:
    console.print(f"Destroy target {plan.target!r} ({redact(plan.workspace)}):", markup=False)
    for item in plan.items:
        if item.exists:
            console.print(f"  - {item.describe()}", markup=False)
        else:
            console.print(f"  = {item.describe()}: already gone", markup=False)
    for note in plan.notes:
        console.print(f"  ! {redact(note)}", markup=False)
    for kept in plan.kept:
        console.print(f"  kept: {redact(kept)}", markup=False)


def run_destroy_command(workflow, *, yes: bool, console, confirm: Callable[[str], str] = input,
                        interactive: bool | None = None) -> int:
    """What ``bricksmith destroy`` runs: show the plan, confirm, remove, report."""
    plan = destroy_plan(workflow)
    if not plan.items and not plan.notes:
        console.print(f"Nothing to remove for target {plan.target!r}: it has no state, so "
                      "bricksmith has made nothing there (or it was destroyed).", markup=False)
        return 0
    print_plan(console, plan)
    todo = plan.todo
    if not todo:
        console.print(f"Nothing to remove for target {plan.target!r}.", markup=False)
        return 0
    if not yes:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            raise UsageError(
                f"destroy would remove {len(todo)} item(s) and needs confirmation, "
                "but the input is not a terminal",
                hint="pass --yes to remove them without asking",
            )
        try:
            answer = confirm(f"Remove these {len(todo)} item(s)? Type 'yes' to confirm: ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("yes", "y"):
            console.print("Destroy cancelled; nothing was removed.", markup=False)
            return 1
    result = execute(workflow, plan, log=lambda line: console.print(f"  {line}", markup=False))
    if result.failed:
        raise DestroyFailed(
            f"destroy of target {plan.target!r}: {len(result.failed)} item(s) could not be "
            f"removed ({len(result.removed)} removed); the state was kept",
            hint="it still records what remains: fix the cause above and run destroy again",
            result=result,
        )
    console.print(f"Destroyed target {plan.target!r}: {len(result.removed)} item(s) removed.",
                  markup=False)
    return 0
