"""``kedro bricksmith ...``: bricksmith as a Kedro project command.

Kedro merges the click groups registered under the ``kedro.project_commands`` entry point
group into its CLI, so :data:`commands` (holding the ``bricksmith`` group) is registered there.
Each subcommand forwards to ``bricksmith.cli.main`` with the workflow spec of the current Kedro
project: ``--spec PATH`` (or ``BRICKSMITH_SPEC``), else the one spec found in the project's
folder or a few folders above it (also in their ``specs/``) whose ``project.path`` is the project.

:data:`cli_hooks` (the ``kedro.cli_hooks`` entry point) keeps ``kedro bricksmith ...`` from
changing the project: kedro-telemetry's ``before_command_run`` hook (installed with every Kedro)
appends ``[tool.kedro_telemetry] project_id`` to ``pyproject.toml`` of a project without a
``.telemetry`` file, which the next apply would commit, push and re-run for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml
from kedro.framework.cli.hooks import cli_hook_impl

SPEC_NAMES = ("workflow.yaml", "workflow.yml", "bricksmith.yaml", "bricksmith.yml")
PARENT_LEVELS = 3  # the project folder and this many folders above it are searched
MAX_SPEC_BYTES = 1_000_000  # larger YAML files are not workflow specs; don't parse them
FORWARD = {"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}
HINT = "pass the spec with --spec PATH (or set BRICKSMITH_SPEC)"


def project_dir(obj: Any) -> Path:
    """The Kedro project: from Kedro's project metadata, else found from the working folder."""
    if getattr(obj, "project_path", None):
        return Path(obj.project_path)
    from kedro.utils import find_kedro_project

    return find_kedro_project(Path.cwd()) or Path.cwd()


def spec_project(path: Path) -> Path | None:
    """The resolved ``project.path`` of the workflow spec at ``path``; None if it is not one."""
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
        if "project" not in text:
            return None
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    project = data.get("project") if isinstance(data, dict) else None
    where = project.get("path") if isinstance(project, dict) else None
    if not isinstance(where, str) or not where or "${" in where or "repo" not in data:
        return None
    return (path.parent / where).resolve()


def _candidates(folder: Path) -> list[Path]:
    named = [folder / name for name in SPEC_NAMES]
    others = [p for d in (folder, folder / "specs") for p in sorted(d.glob("*.y*ml"))]
    return [p for p in dict.fromkeys(named + others) if p.suffix in (".yaml", ".yml")]


def find_spec(project: Path, levels: int = PARENT_LEVELS) -> Path:
    """The one workflow spec whose ``project.path`` is ``project``. Raises ClickException."""
    project = project.resolve()
    folders = [project, *project.parents][: levels + 1]
    found = [
        p
        for folder in folders
        for p in _candidates(folder)
        if p.is_file() and spec_project(p) == project
    ]
    found = list(dict.fromkeys(p.resolve() for p in found))
    if len(found) == 1:
        return found[0]
    if not found:
        raise click.ClickException(
            f"no bricksmith workflow spec has project.path {project}: looked at the YAML files "
            f"in {project} and the {len(folders) - 1} folders above it (and their specs/)\n"
            f"hint: {HINT}"
        )
    listed = "\n".join(f"  {p}" for p in found)
    raise click.ClickException(
        f"{len(found)} workflow specs have project.path {project}:\n{listed}\n"
        f"hint: pick one: {HINT}"
    )


def _forward(name: str, summary: str, *, prefix: tuple[str, ...] = ()) -> click.Command:
    usage = " ".join(("bricksmith", *prefix, name))

    @click.command(
        name=name,
        context_settings=FORWARD,
        help=f"{summary}\n\nOther options are those of `{usage} --help` (e.g. --target, --var).",
    )
    @click.option(
        "--spec",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="BRICKSMITH_SPEC",
        help="The workflow spec; default: the one whose project.path is this project.",
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def command(ctx: click.Context, spec: Path | None, args: tuple[str, ...]) -> None:
        from bricksmith.cli import main

        path = spec or find_spec(project_dir(ctx.obj))
        ctx.exit(main([*prefix, name, str(path), *args]))

    return command


@click.group(name="bricksmith-commands")
def commands() -> None:
    """bricksmith commands for Kedro projects (the ``kedro.project_commands`` entry point)."""


@commands.group(name="bricksmith")
def bricksmith() -> None:
    """Plan and apply this Kedro project's bricksmith workflow (Kedro on Databricks)."""


@bricksmith.group(name="state")
def state() -> None:
    """Repair the target's state: unlock, restore."""


for _name, _summary in {
    "validate": "Check the spec; report every problem with file:line:col.",
    "plan": "Show what apply would do, and why.",
    "apply": "Make the target match the spec (resumable).",
    "run": "Run a run again, even if up to date (kedro bricksmith run NAME).",
    "status": "Show the last recorded state of every step and run.",
    "graph": "Print the DAG of steps (--format mermaid|dot|png).",
    "runs": "All runs side by side: params that differ, metrics, duration, status.",
    "report": "Write the runs and a chart of each metric as one HTML page.",
    "destroy": "Remove what apply made in the target, and its state.",
    "pull": "Bring the edits made in the workspace Git folder home: commit, push, check out.",
}.items():
    bricksmith.add_command(_forward(_name, _summary))
state.add_command(_forward("unlock", "Remove the lock a killed apply left.", prefix=("state",)))
state.add_command(
    _forward("restore", "Put back the state saved by the last apply.", prefix=("state",))
)


@bricksmith.command(name="schema")
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the JSON Schema of workflow specs."""
    from bricksmith.cli import main

    ctx.exit(main(["schema"]))


class TelemetryOff:
    """Kedro CLI hook: telemetry off for ``kedro bricksmith ...`` commands only.

    It runs before kedro-telemetry's own ``before_command_run`` (``tryfirst``), which reads
    ``KEDRO_DISABLE_TELEMETRY`` from the environment at that moment (kedro-telemetry's
    ``_check_for_telemetry_consent``) and then writes nothing. Other Kedro commands are left as
    the user configured them.
    """

    @cli_hook_impl(tryfirst=True)
    def before_command_run(self, project_metadata: Any, command_args: list[str]) -> None:
        if list(command_args[:1]) == ["bricksmith"]:
            os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"


cli_hooks = TelemetryOff()
