"""The command line: argument parsing, rendering and exit codes. What reads or changes a
target goes through ``bricksmith.api``; the rendering modules (progress, runs, report,
graphviz, destroy's listing) only draw what it returns.

Exit codes: 0 success; 1 error (bad input, failed step, locked target); 2 with
``plan --detailed-exitcode`` when there is something to do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from bricksmith.errors import BricksmithError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path

PIPED_WIDTH = 160  # columns for tables when the output is not a terminal
SYMBOLS = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "resume": ("!", "magenta"),
    "in_progress": ("~", "cyan"),
    "remove": ("-", "red"),
    "replace": ("-/+", "cyan"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument exits 1 like every other error (2 means "changes" for
    ``plan --detailed-exitcode``)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(1, f"Error: {message}\nhint: run `{self.prog} --help` for the arguments\n")


DEFAULT_SPEC = "workflow.yaml"


class _Version(argparse.Action):
    """``--version``: the installed distribution's version (read only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("bricksmith")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        sys.stdout.write(f"bricksmith {found}\n")
        parser.exit(0)


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (checked before the spec is read)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


COMMANDS = ("validate", "plan", "apply", "run", "status", "destroy", "runs", "report", "graph",
            "state", "schema", "init", "emulator")


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names first (after --no-color), if it names one."""
    rest = [arg for arg in argv if arg != "--no-color"]
    return rest[0] if rest and rest[0] in COMMANDS else None


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that command's (building all of them costs
    more than a replayed plan's other work)."""

    def want(name: str) -> bool:
        return only is None or only == name

    parser = _Parser(
        prog="bricksmith",
        description="Plan and apply a Kedro-on-Databricks workflow described in one YAML spec.",
    )
    parser.add_argument("--no-color", action="store_true", help="plain output (also NO_COLOR=1)")
    parser.add_argument("--version", action=_Version, help="print bricksmith's version")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def spec_command(name: str, help_text: str, group=commands) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("spec", nargs="?", default=DEFAULT_SPEC,
                         help=f"the workflow spec (YAML; default: ./{DEFAULT_SPEC})")
        sub.add_argument("--target", "-t", help="target to use (default: the spec's `target`)")
        sub.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="set ${var.NAME} (repeatable)",
        )
        # accepted after the command too; SUPPRESS keeps a global --no-color from being reset
        sub.add_argument("--no-color", action="store_true", default=argparse.SUPPRESS)
        return sub

    def selection(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--only", action="append", default=[], metavar="STEP",
            help="only this step and what it needs upstream (repeatable; a glob such as "
            "'run.*' names several); the plan lists the steps it leaves out")
        sub.add_argument(
            "--replace", action="append", default=[], metavar="STEP",
            help="run this step even if it is up to date (repeatable); what depends on it "
            "runs only if its outputs change")

    def applying(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--parallelism", "-p", type=_positive_int, default=4, help="steps at once (4)"
        )
        sub.add_argument("--verbose", "-v", action="store_true", help="show every step message")
        sub.add_argument(
            "--discard-workspace-edits", action="store_true",
            help="overwrite files edited in the workspace Git folder (a copy of each is kept "
            "under <target root>/workspace-edits/); without it apply stops before any step",
        )

    if want("validate"):
        spec_command("validate", "check a spec; report every problem with file:line:col")
    if want("plan"):
        plan = spec_command("plan", "show what apply would do, and why")
        plan.add_argument("--json", action="store_true", help="machine-readable plan")
        plan.add_argument(
            "--no-refresh",
            dest="refresh",
            action="store_false",
            help="compare the spec with the saved state only, without checking the workspace, "
            "DBFS and git for drift (faster; apply still checks)",
        )
        plan.add_argument(
            "--out", metavar="FILE",
            help="save the plan; `bricksmith apply FILE` applies exactly it (refused when stale)",
        )
        plan.add_argument(
            "--detailed-exitcode",
            action="store_true",
            help="exit 0 when there is nothing to do, 2 when there is, 1 on error",
        )
        selection(plan)
    if want("apply"):
        apply = spec_command(
            "apply", "make the target match the spec (resumable); SPEC may be a saved plan"
        )
        applying(apply)
        selection(apply)
    if want("run"):
        run = spec_command(
            "run", "run a run again, even if it is up to date, with what it needs upstream "
            "(apply --only run.NAME --replace run.NAME); a new execution in its history")
        run.add_argument("name", help="the run's name (runs[].name; a glob such as 'split-*' "
                         "names several)")
        applying(run)
    if want("pull"):
        pull = spec_command(
            "pull", "bring the edits made in the workspace Git folder into the local project: "
            "commit, push, and check the Git folder out at that commit",
        )
        pull.add_argument("--message", "-m", help="the commit message (default: lists the files)")
    if want("status"):
        status = spec_command("status", "show the last recorded state of every step and run")
        status.add_argument("--json", action="store_true", help="machine-readable status")
    if want("destroy"):
        destroy = spec_command(
            "destroy",
            "remove what apply made in the target (workspace repo, notebook, uploaded data) and "
            "the target's state; never the local project or the git remote",
        )
        destroy.add_argument("--yes", "-y", action="store_true", help="remove without asking")
    if want("runs"):
        runs = spec_command("runs", "the latest execution of every run side by side: params "
                            "that differ, metrics, duration, status")
        runs.add_argument("name", nargs="?", help="one run: every execution of it")
        runs.add_argument("--history", action="store_true",
                          help="every recorded execution, and what changed between the last two")
        runs.add_argument("--json", action="store_true", help="machine-readable runs")
    if want("report"):
        report = spec_command("report",
                              "write the runs and a chart of each metric as one HTML page")
        report.add_argument("--out", "-o", metavar="FILE",
                            help="where to write it (default: <target root>/report.html)")
    if want("graph"):
        graph = spec_command("graph", "the DAG of steps, coloured by their last status")
        graph.add_argument(
            "--format", choices=["mermaid", "dot", "png"], default="mermaid",
            help="mermaid (default) or dot text, or a PNG drawn by graphviz",
        )
        graph.add_argument(
            "--out", "-o", metavar="FILE", help="write here (png: default graph.png; text: stdout)"
        )
    if want("state"):
        state = commands.add_parser("state", help="repair a target's state: unlock, restore")
        state_commands = state.add_subparsers(dest="state_command", required=True, metavar="ACTION")
        unlock = spec_command(
            "unlock", "remove the apply lock a killed apply left behind", state_commands
        )
        unlock.add_argument("--force", action="store_true", help="break a lock that looks alive")
        spec_command(
            "restore", "put back the copy of the state the last apply left; lists what the "
            "next apply repeats", state_commands
        )
    if want("schema"):
        schema = commands.add_parser("schema", help="print the JSON Schema of workflow specs")
        schema.add_argument(
            "--reference", action="store_true",
            help="the spec reference in Markdown instead (docs/spec-reference.md)",
        )
    if want("init"):
        init = commands.add_parser(
            "init", help="write a commented workflow.yaml (and its schema) for a new project"
        )
        init.add_argument("directory", nargs="?", default=".", help="where to write it (.)")
        init.add_argument("--name", help="workflow and Kedro project name (default: the folder's)")
        init.add_argument("--starter", help="Kedro starter (default: databricks-iris)")
        init.add_argument("--remote", help="git remote to push the project to")
        init.add_argument("--target", help="local (default) or databricks")
        init.add_argument("--non-interactive", action="store_true",
                          help="take the flags and defaults; ask nothing")
        init.add_argument("--force", action="store_true", help="overwrite existing files")
    if want("emulator"):
        emulator = commands.add_parser("emulator", help="a local Databricks REST API emulator")
        emulator_commands = emulator.add_subparsers(dest="emulator_command", required=True)
        serve = emulator_commands.add_parser(
            "serve", help="serve an emulated workspace until Ctrl-C (for tests and demos)"
        )
        serve.add_argument("--host", default="127.0.0.1")
        serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        serve.add_argument("--root", default=".bricksmith/emulator", help="where its files live")
        serve.add_argument(
            "--token-env", metavar="NAME", help="require the bearer token held in this env var"
        )
        serve.add_argument("--user", default="someone@example.com", help="the current user")
        serve.add_argument("--fault-rate", type=float, default=0.0, help="share of calls that fail")
        serve.add_argument("--latency-ms", type=float, default=0.0, help="added to every call")
        serve.add_argument("--seed", type=int, help="for a reproducible sequence of faults")
        serve.add_argument(
            "--cluster-id", default=None, help="the id of its one all-purpose cluster "
            "(default 0000-000000-emulator0)"
        )
        serve.add_argument(
            "--serverless", action="store_true", help="the workspace has serverless jobs"
        )
        serve.add_argument(
            "--dbfs-root-disabled", action="store_true",
            help="the workspace has no DBFS root (as new accounts): DBFS calls are refused",
        )
    return parser


def _parse_vars(items: Sequence[str]) -> dict[str, str]:
    variables = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--var {item!r} is not NAME=VALUE", hint="e.g. --var env=dev")
        variables[name.strip()] = value
    return variables


def _console(args, *, stderr: bool = False):
    from rich.console import Console

    plain = args.no_color or bool(os.environ.get("NO_COLOR"))
    stream = sys.stderr if stderr else sys.stdout
    # piped output (CI logs, files, `| grep`) gets room for wide tables instead of 80 columns
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(stderr=stderr, no_color=plain, highlight=False, soft_wrap=True, width=width)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(_command_of(argv)).parse_args(argv)
    try:
        return _dispatch(args)
    except BricksmithError as exc:
        _report_error(args, exc)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run apply again to resume", file=sys.stderr)
        return 130


def _report_error(args, exc: BricksmithError) -> None:
    from rich.markup import escape  # messages quote user input: "[/x]" is not markup

    console = _console(args, stderr=True)
    console.print(f"[bold red]Error:[/] {escape(exc.message)}", markup=True, highlight=False)
    if exc.hint:
        console.print(f"[dim]hint:[/] {escape(exc.hint)}")


def _dispatch(args) -> int:
    if args.command == "schema":
        return _schema(args)
    if args.command == "init":
        return _init(args)

    if args.command == "emulator":
        return _serve_emulator(args)

    if args.command == "plan" and not (args.out or args.only or args.replace):
        from bricksmith.plan import memo

        replayed = memo.replay(args.spec, requested_target=args.target,
                               variables=_parse_vars(args.var), environ=os.environ,
                               refresh=args.refresh)
        if replayed:
            from bricksmith.plan.planner import Action, Plan

            plan = Plan.of((Action(step, action, tuple(reasons), *conditional)
                            for step, action, reasons, *conditional in replayed.actions),
                           replayed.notes)
            return _show_plan(args, plan, replayed.target)

    from bricksmith import api

    if args.command == "runs" and args.name is None and _is_run_name(args.spec):
        args.spec, args.name = DEFAULT_SPEC, args.spec  # `bricksmith runs NAME`
    if args.command == "run":
        _run_names(args)
    if args.command == "apply" and api.is_saved_plan_file(args.spec):
        if args.target or args.var or args.only or args.replace:
            raise UsageError(
                "a saved plan keeps the target and --var values it was made with, and its "
                "--only and --replace",
                hint=f"run `bricksmith apply {args.spec}` without --target/--var/--only/"
                "--replace",
            )
        workflow, saved = api.load_saved_plan(args.spec)
        return _apply(args, workflow, saved)
    workflow = api.load(args.spec, target=args.target, variables=_parse_vars(args.var))
    if args.command == "validate":
        wf = workflow.spec.workflow
        print(
            f"{args.spec}: valid — workflow {wf.name!r}, {len(workflow.graph)} steps, "
            f"{len(wf.runs)} run(s), target {workflow.target!r}"
        )
        return 0
    if args.command == "plan":
        return _plan(args, workflow)
    if args.command in ("apply", "run"):
        return _apply(args, workflow)
    if args.command == "status":
        return _status(args, workflow)
    if args.command == "destroy":
        from bricksmith.destroy import run_destroy_command

        return run_destroy_command(workflow, yes=args.yes, console=_console(args))
    if args.command == "runs":
        if args.json or args.history or args.name:
            from bricksmith.runs_command import show_runs

            return show_runs(workflow, _console(args), name=args.name, as_json=args.json)
        return _runs(args, workflow)
    if args.command == "report":
        return _report(args, workflow)
    if args.command == "graph":
        return _graph(args, workflow)
    if args.command == "pull":
        from bricksmith.pull import run_pull_command

        return run_pull_command(workflow, message=args.message)
    if args.command == "state":
        if args.state_command == "unlock":
            print(workflow.unlock(force=args.force))
        else:
            print(workflow.restore_state())
        return 0
    raise UsageError(f"unknown command {args.command}")


def _schema(args) -> int:
    if args.reference:
        from bricksmith.spec.reference import render_reference
        from bricksmith.spec.schema import json_schema

        sys.stdout.write(render_reference(json_schema()))
    else:
        from bricksmith.spec import render_schema

        sys.stdout.write(render_schema())
    return 0


def _init(args) -> int:
    from bricksmith.init import ask, default_name, input_prompt, make_answers, write_spec

    flags = {
        "name": args.name or default_name(args.directory),
        "starter": args.starter,
        "remote": args.remote,
        "target": args.target,
    }
    answers = make_answers(**flags) if args.non_interactive else ask(input_prompt, flags)
    for path in write_spec(args.directory, answers, force=args.force):
        print(f"wrote {path}")
    return 0


def _graph(args, workflow) -> int:
    default = {"png": "graph.png", "dot": "graph.dot", "mermaid": "graph.mmd"}[args.format]
    if args.format == "png":
        from bricksmith.graphviz import render_png

        print(f"wrote {render_png(workflow.dot(), _output_path(args.out or default, default))}")
        return 0
    text = workflow.dot() if args.format == "dot" else workflow.mermaid()
    if args.out:
        out = _output_path(args.out, default)
        _write_text(out, text)
        print(f"wrote {out}")
    else:
        sys.stdout.write(text)
    return 0


def _output_path(out: str | os.PathLike, default_name: str | None = None) -> Path:
    """``--out`` as a file: a folder means ``default_name`` in it, or an error without one."""
    from pathlib import Path

    path = Path(out)
    if path.is_dir() or not path.name:
        if default_name is None:
            raise UsageError(f"--out {out} is a folder", hint="pass a file path, e.g. plan.json")
        return path / default_name
    return path


def _write_text(path: str | os.PathLike, text: str) -> None:
    from bricksmith.atomic import write_text_atomically

    try:
        write_text_atomically(path, text)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="pass --out FILE in a folder you can write to",
        ) from None


def _serve_emulator(args) -> int:
    from bricksmith.emulator import serve

    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise UsageError(
                f"--token-env {args.token_env}: that environment variable is not set",
                hint=f"export {args.token_env}=<a token clients must send>",
            )
    if not 0 <= args.fault_rate <= 1:
        raise UsageError("--fault-rate must be between 0 and 1")
    if args.latency_ms < 0:
        raise UsageError("--latency-ms cannot be negative")
    try:
        serve(
            args.host,
            args.port,
            args.root,
            token=token,
            fault_rate=args.fault_rate,
            latency_ms=args.latency_ms,
            seed=args.seed,
            user=args.user,
            **({"cluster_id": args.cluster_id} if args.cluster_id else {}),
            serverless=args.serverless,
            dbfs_root_disabled=args.dbfs_root_disabled,
            token_env=args.token_env,
            ready=lambda line: print(line, flush=True),
        )
    except OSError as exc:
        raise UsageError(
            f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
            hint="pick another --port (0 picks a free one)",
        ) from None
    return 0


def _run_names(args) -> None:
    """``run NAME``: the spec may come first or second (``run SPEC NAME``, which the Kedro
    plugin passes, or ``run NAME SPEC``); becomes ``--only run.NAME --replace run.NAME``."""
    if not args.spec.endswith((".yaml", ".yml")) and args.name.endswith((".yaml", ".yml")):
        args.spec, args.name = args.name, args.spec
    name = args.name.removeprefix("run.")
    args.only = args.replace = [f"run.{name}"]


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
    lines.add(("Workspace edits: ", "bold yellow"),
              (f"{len(edits)} file(s) edited in {' and '.join(where)}; apply stops until you "
               "`bricksmith pull` them or apply with --discard-workspace-edits", None))
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
