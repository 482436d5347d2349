"""The command line: argument parsing, rendering and exit codes. What reads or changes a
target goes through ``bricksmith.api``; the rendering modules (progress, runs, report,
graphviz, destroy's listing) only draw what it returns.

Exit codes: 0 success; 1 error (bad input, failed step, locked target); 2 with
``plan --detailed-exitcode`` when there is something to do.

The parts: ``cli_parser`` (arguments), ``cli_output`` (console, --out files), ``cli_plan``
(plan and apply rendering), ``cli_runs`` (status, runs, report); this module dispatches and
holds the small commands (schema, init, graph, emulator serve).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from bricksmith.cli_output import _console, _output_path, _write_text
from bricksmith.cli_parser import (  # noqa: F401  (re-exported)
    COMMANDS,
    DEFAULT_SPEC,
    _command_of,
    _Parser,
    _parser,
)
from bricksmith.cli_plan import _apply, _check_run_name, _plan, _run_names, _show_plan
from bricksmith.cli_runs import _is_run_name, _report, _runs, _status
from bricksmith.errors import BricksmithError, UsageError


def _parse_vars(items: Sequence[str]) -> dict[str, str]:
    variables = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--var {item!r} is not NAME=VALUE", hint="e.g. --var env=dev")
        variables[name.strip()] = value
    return variables


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
    if args.command == "run":
        _check_run_name(args, workflow)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
