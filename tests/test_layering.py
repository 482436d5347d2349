"""Imports run one way: down the layers of ``src/bricksmith``, never back up.

The layers, top to bottom (``../shared/DESIGN.md``, "Layout and the direction of imports"):

    cli        cli.py, kedro_plugin.py: arguments, rendering, exit codes; beside cli.py its
               parts: cli_parser, cli_output, cli_plan, cli_runs
    api        api.py (and its parts api_plan, api_apply, api_status, api_checks) and the
               commands beside it: destroy, pull, init, report, runs,
               run_history, runs_command, progress (the live apply display) and
               run_position (where a running run is), graphviz, preflight (what apply
               checks before the first step)
    engine     engine/: executes a plan (order, parallelism, failure policy, state store,
               lock); of plan/ it knows only the compiled graph (plan/graph.py), never the
               planner's internals, of steps/ only their protocol (steps/base.py), and no
               backend
    plan       plan/: compile (spec -> StepGraph), decide (graph + records + observations ->
               actions), saved plans, the plan memo, catalog notes; it imports no backend
    steps      steps/: one module per kind of step, talking to a backend through its protocol
    project    what bricksmith knows of a Kedro project: kedro_conf, kedro_settings,
      | emulator  kedro_catalog, param_names, parameters_file, run_params, run_outputs,
               run_logs (a run execution's log file), notebook, starters/; side by side
               with emulator/ (the Databricks REST emulator, which runs notebooks with the
               local backend's machinery): neither imports the other
    spec       spec/: YAML with positions, interpolation, Pydantic models, checks, schema
               (backends never read the spec: they are handed plain values)
    backends   backends/: local, databricks, git, file sync, run environments, kernels
    bottom     owned by no layer: errors, records (step records, the damaged-state error),
               statuses, fingerprints, observations (probes), state_revision, gitremote,
               pathfacts, atomic, cachedir, redact, logged, made, gitproviders
    run hooks  kedro_run/: put on the run kernel's path, where bricksmith is not installed,
               so it imports no other bricksmith module

A module may import its own layer and any layer below it. Every import counts: at module
level, inside a function (lazy) and under ``TYPE_CHECKING``. A module that no layer names
fails too: place a new module in ``LAYERS`` (and in this docstring).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bricksmith"

# (layer, the modules and packages in it, relative to bricksmith), top to bottom; layers in one
# tuple sit side by side and may not import each other
LAYERS: list[tuple[tuple[str, tuple[str, ...]], ...]] = [
    (("cli", ("cli", "kedro_plugin", "cli_parser", "cli_output", "cli_plan", "cli_runs")),),
    (("api", ("api", "api_plan", "api_apply", "api_status", "api_checks", "destroy", "pull",
              "init", "report", "runs", "run_history", "runs_command", "progress",
              "run_position", "graphviz", "preflight")),),
    (("engine", ("engine",)),),
    (("plan", ("plan",)),),
    (("steps", ("steps",)),),
    (("project", ("kedro_conf", "kedro_settings", "kedro_catalog", "param_names",
                  "parameters_file", "run_params", "run_outputs", "run_logs", "notebook",
                  "starters")),
     ("emulator", ("emulator",))),
    (("spec", ("spec",)),),
    (("backends", ("backends",)),),
    (("bottom", ("errors", "records", "statuses", "fingerprints", "observations",
                 "state_revision", "gitremote", "pathfacts", "atomic", "cachedir", "redact",
                 "logged", "made", "gitproviders")),),
    (("run hooks", ("kedro_run",)),),
]

# Downward imports narrowed further: (importing layer, imported layer) -> the only modules of
# the imported layer it may import (none: it imports that layer not at all).
ONLY: dict[tuple[str, str], tuple[str, ...]] = {
    ("engine", "plan"): ("bricksmith.plan.graph",),  # the engine executes a compiled graph
    ("engine", "steps"): ("bricksmith.steps.base",),  # ... of steps, through their protocol
    ("engine", "backends"): (),
    ("plan", "backends"): (),  # compiling the spec and deciding the plan never reach a backend
}

# Upward imports not fixed yet, as "path relative to src/bricksmith: imported module", each
# with why it is still there. The lead empties it; an entry that no longer occurs fails.
ALLOWED: dict[str, str] = {}


def _owners() -> tuple[dict[str, str], dict[str, int]]:
    owner, rank = {}, {}
    for level, group in enumerate(LAYERS):
        for layer, names in group:
            rank[layer] = level
            owner.update({f"bricksmith.{name}": layer for name in names})
    return owner, rank


def layer_of(module: str, owner: dict[str, str]) -> str | None:
    """The layer of ``module`` (dotted): its own entry or its closest package's."""
    if module == "bricksmith":
        return "bottom"
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        found = owner.get(".".join(parts[:end]))
        if found:
            return found
    return None


def modules(src: Path) -> dict[str, Path]:
    """{dotted module name: file} of every module under ``src`` (the starter's template
    files, whose paths hold ``{{ cookiecutter... }}``, are not modules of bricksmith)."""
    found = {}
    for path in sorted(src.rglob("*.py")):
        if "{{" in path.as_posix():
            continue
        parts = path.relative_to(src.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(node: ast.AST, module: str, path: Path, known: dict[str, Path]) -> list[str]:
    """The bricksmith modules an import statement names (``from a import b``: ``a.b`` when
    that is a module, else ``a``)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([node.module] if node.module else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                 for a in node.names]
    else:
        return []
    return [name for name in dict.fromkeys(names)
            if name == "bricksmith" or name.startswith("bricksmith.")]


def layering_faults(src: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(upward imports as (``file:line``, "rel: module", message), modules no layer names)."""
    owner, rank = _owners()
    known = modules(src)
    faults, unplaced = [], []
    for module, path in known.items():
        mine = layer_of(module, owner)
        if mine is None:
            unplaced.append(module)
            continue
        rel = path.relative_to(src).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
            for target in imported(node, module, path, known):
                theirs = layer_of(target, owner)
                if theirs is None:
                    unplaced.append(target)
                    continue
                where = f"{src.name}/{rel}:{node.lineno}"
                if theirs != mine and rank[theirs] <= rank[mine]:
                    faults.append((where, f"{rel}: {target}", f"{where}: {mine} imports "
                                   f"{target}, of layer {theirs} (above or beside it)"))
                only = ONLY.get((mine, theirs))
                if only is not None and target not in only:
                    allowed = f"only {', '.join(only)}" if only else "nothing"
                    faults.append((where, f"{rel}: {target}", f"{where}: {mine} imports "
                                   f"{target}; of {theirs} it may import {allowed}"))
    return faults, sorted(set(unplaced))


def test_every_module_has_a_layer():
    assert layering_faults(SRC)[1] == []


def test_imports_run_only_down_the_layers():
    faults, _ = layering_faults(SRC)
    upward = [message for _, key, message in faults if key not in ALLOWED]
    assert upward == [], "imports that run back up the layers:\n" + "\n".join(upward)


def test_the_allowlist_holds_only_imports_that_still_run_up():
    found = {key for _, key, _ in layering_faults(SRC)[0]}
    assert sorted(set(ALLOWED) - found) == []


def test_an_upward_import_is_named_with_its_file_and_line_even_inside_a_function(tmp_path):
    package = tmp_path / "bricksmith"
    for folder in ("backends", "plan", "engine"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("")
    (package / "plan" / "memo.py").write_text("")
    (package / "backends" / "git.py").write_text(
        "from bricksmith.errors import *\n\n\ndef probe():\n    from ..plan import memo\n")
    (package / "engine" / "executor.py").write_text(
        "from bricksmith.plan.graph import StepGraph\nfrom bricksmith.plan import memo\n")
    (package / "plan" / "graph.py").write_text(
        "if False:\n    import bricksmith.backends.git, bricksmith.errors\n")
    (package / "stray.py").write_text("")

    faults, unplaced = layering_faults(package)

    assert [message for _, _, message in faults] == [
        "bricksmith/backends/git.py:5: backends imports bricksmith.plan.memo, of layer plan "
        "(above or beside it)",
        "bricksmith/engine/executor.py:2: engine imports bricksmith.plan.memo; of plan it may "
        "import only bricksmith.plan.graph",
        "bricksmith/plan/graph.py:2: plan imports bricksmith.backends.git; of backends it may "
        "import nothing",
    ]
    assert unplaced == ["bricksmith.stray"]
