"""``bricksmith plan``, ``apply`` and ``run`` on the terminal: the plan's changes, reasons,
notes and workspace edits (plain text, or styled without markup), and an apply with its live
table, summary line, runs table and run logs."""

from __future__ import annotations

import json
import os
import sys

from bricksmith.cli_output import _console, _output_path
from bricksmith.cli_runs import _run_logs, _runs_table
from bricksmith.errors import UsageError

SYMBOLS = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "resume": ("!", "magenta"),
    "in_progress": ("~", "cyan"),
    "remove": ("-", "red"),
    "replace": ("-/+", "cyan"),
}


def _run_names(args) -> None:
    """``run NAME``: the spec may come first or second (``run SPEC NAME``, which the Kedro
    plugin passes, or ``run NAME SPEC``); becomes ``--only run.NAME --replace run.NAME``."""
    if not args.spec.endswith((".yaml", ".yml")) and args.name.endswith((".yaml", ".yml")):
        args.spec, args.name = args.name, args.spec
    name = args.name.removeprefix("run.")
    args.only = args.replace = [f"run.{name}"]


def _check_run_name(args, workflow) -> None:
    """``run NAME`` names a run of the workflow; else a UsageError listing its runs."""
    if args.only[0] in workflow.graph.steps:
        return
    from difflib import get_close_matches

    runs = [run.name for run in workflow.spec.workflow.runs]
    name = args.only[0].removeprefix("run.")
    close = get_close_matches(name, runs, n=1)
    maybe = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(f"no run named {name!r} in this workflow",
                     hint=f"{maybe}its runs are: {', '.join(runs) or 'none'}")


def _plan(args, workflow) -> int:
    selected = {"only": tuple(args.only), "replace": tuple(args.replace)}
    plan = workflow.plan(refresh=args.refresh, **selected)
    if args.out:
        if not args.refresh:
            raise UsageError(
                "a saved plan must see drift: --out cannot go with --no-refresh",
                hint="drop --no-refresh",
            )
        workflow.save_plan(plan, _output_path(args.out), **selected)
    return _show_plan(args, plan, workflow.target)


def _show_plan(args, plan, target: str) -> int:
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
    else:
        lines = _StyledLines()
        if not plan.has_changes:
            part = " (the steps --only selects)" if plan.left_out else ""
            lines.add((f"No changes. Target {target!r} matches the spec{part}.", None))
        for action in plan.changes:
            symbol, colour = SYMBOLS[action.action]
            label = f"{action.action} if upstream outputs change" if action.conditional \
                else action.action
            if action.action == "create" and action.reasons[:1] and \
                    action.reasons[0].startswith("adopt the existing"):
                label = "adopt"  # it takes over what exists: nothing is created
            label = label.replace("_", " ")  # in_progress: "in progress"
            lines.add((f"{symbol} {action.step}", colour), (f" ({label})", "dim"))
            for reason in action.reasons:
                lines.add((f"      {reason}", None))
        for note in plan.notes:
            lines.add(("Warning: ", "bold yellow"), (note, None))
        if plan.left_out:
            lines.add((f"Left out by --only ({len(plan.left_out)} step(s), not planned or "
                       f"applied): ", "bold"), (", ".join(plan.left_out), None))
        _edit_lines(lines, plan.edits)
        lines.add((plan.summary_line(), None))
        if args.out:
            lines.add((f"Saved the plan to {args.out}; `bricksmith apply {args.out}` applies "
                       "exactly it.", "dim"))
        _print_lines(args, lines)
    if args.detailed_exitcode:
        return 2 if plan.has_changes else 0
    return 0


def _edit_lines(lines, edits, max_lines: int = 60) -> None:
    """The workspace Git folder's edits under the plan: each file and its diff (the first
    ``max_lines`` lines of each; ``plan --json`` has them whole)."""
    if not edits:
        return
    base = next((e["base"] for e in edits if not e.get("notebook")), None)
    where = [f"the workspace Git folder since commit {base[:10]}"] if base else []
    where += ["the deployed notebook (generated: pull does not bring it home)"
              for e in edits if e.get("notebook")]
    todo = ("`bricksmith pull` them or apply with --discard-workspace-edits" if base else
            "apply with --discard-workspace-edits (a copy is kept; copy what you need into "
            "the project first)")
    lines.add(("Workspace edits: ", "bold yellow"),
              (f"{len(edits)} file(s) edited in {' and '.join(where)}; apply stops until you "
               f"{todo}", None))
    colours = {"+": "green", "-": "red", "@": "cyan"}
    for edit in edits:
        lines.add((f"  {edit['change']}: {edit['path']}", "bold"))
        diff = edit["diff"].splitlines()
        for line in diff[:max_lines]:
            lines.add((f"    {line}", colours.get(line[:1])))
        if len(diff) > max_lines:
            lines.add((f"    ... ({len(diff) - max_lines} more lines: plan --json has them)",
                       "dim"))


def _print_lines(args, lines: _StyledLines) -> None:
    """Styled on a terminal; piped or with --no-color/NO_COLOR, the plain text (rich would
    drop the styles anyway; importing it costs more than planning 1,000 steps). FORCE_COLOR
    styles piped output too, as rich does."""
    plain = args.no_color or bool(os.environ.get("NO_COLOR"))
    if plain or not (sys.stdout.isatty() or os.environ.get("FORCE_COLOR")):
        sys.stdout.write(lines.plain_text())
    else:
        _console(args).print(lines)


class _StyledLines:
    """Lines of (text, style) parts, printed as they are: no markup, no wrapping, so a plan
    of 10,000 steps renders in one quick write."""

    def __init__(self) -> None:
        self.lines: list[tuple[tuple[str, str | None], ...]] = []

    def add(self, *parts: tuple[str, str | None]) -> None:
        self.lines.append(parts)

    def plain_text(self) -> str:
        return "".join("".join(text for text, _style in parts) + "\n" for parts in self.lines)

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        styles = {None: None}
        for parts in self.lines:
            for text, style in parts:
                if style not in styles:
                    styles[style] = console.get_style(style)
                yield Segment(text, styles[style])
            yield Segment.line()


def _apply(args, workflow, saved=None) -> int:
    from bricksmith.errors import ApplyFailed
    from bricksmith.progress import ApplyProgress, use_live_display

    console = _console(args)
    plain = args.no_color or bool(os.environ.get("NO_COLOR"))
    selected = {"only": tuple(getattr(args, "only", ())),
                "replace": tuple(getattr(args, "replace", ()))}
    if saved is not None:
        selected = {"only": saved.only, "replace": saved.replace}
    chosen = workflow.select(**selected)  # a name that matches no step: refused here
    progress = ApplyProgress(
        console,
        chosen.graph.order,
        live=use_live_display(console, plain=plain),
        verbose=args.verbose,
    )
    console.print(f"Applying {workflow.spec.path.name} to target {workflow.target!r}", markup=False)
    try:
        with progress:
            report = workflow.apply(
                parallelism=args.parallelism, on_event=progress, verbose=args.verbose, saved=saved,
                discard_workspace_edits=getattr(args, "discard_workspace_edits", False),
                **({} if saved is not None else selected),
            )
    except ApplyFailed:
        console.print(f"Apply failed: {progress.counts_line()}", markup=False)
        _runs_table(console, workflow)
        _run_logs(console, workflow)
        raise
    removed = f", {len(report.removed)} removed step(s) forgotten" if report.removed else ""
    removed += f", {len(report.left_out)} left out by --only" if report.left_out else ""
    console.print(
        f"Apply complete: {len(report.ran)} step(s) ran, {len(report.skipped)} up to date"
        f"{removed} in {progress.elapsed():.1f}s.",
        markup=False,
    )
    _runs_table(console, workflow)
    _run_logs(console, workflow)
    return 0
