"""The command line's arguments: the argparse parser of every command (``bricksmith plan``,
``apply``, ``run``, ``status``, ``runs``, ``state``, ``emulator serve``, ...), built for the one
command asked for; a bad argument exits 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


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
