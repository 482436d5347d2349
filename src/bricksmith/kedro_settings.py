"""A Kedro project's settings.py read without importing the project.

Kedro imports ``<package>.settings`` (kedro/framework/project/__init__.py), which may import
the project's hooks and, through them, pyspark or a company library. bricksmith needs only
``CONF_SOURCE``, ``CONFIG_LOADER_ARGS`` and ``CONFIG_LOADER_CLASS``: it parses the file
(``ast``) and evaluates the top-level statements that define them, with the assignments,
functions and ``pathlib``/``os`` imports they refer to, ``__file__`` set to the file and a
few builtins. Other imports are never run.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bricksmith.errors import ProjectConfError

__all__ = ["SETTINGS_NAMES", "read_settings"]

SETTINGS_NAMES = ("CONF_SOURCE", "CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS")
_STDLIB_MODULES = ("pathlib", "os", "os.path")
_SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "str", "int", "float", "bool", "dict", "list", "tuple", "set", "frozenset", "len",
        "sorted", "min", "max", "sum", "abs", "round", "range", "zip", "enumerate", "map",
        "filter", "any", "all", "repr", "isinstance", "None", "True", "False",
        "Exception", "ValueError", "KeyError", "TypeError",
    )
    if hasattr(builtins, name)
}


def read_settings(file: Path) -> tuple[dict[str, Any], list[str]]:
    """({name: value} of the ``SETTINGS_NAMES`` that ``file`` sets, warnings). Raises
    :class:`ProjectConfError` naming the file and line of a statement that defines one of
    them and cannot be evaluated (or a syntax error)."""
    try:
        source = file.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(file))
    except OSError as exc:
        raise ProjectConfError(f"{file} cannot be read: {exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise ProjectConfError(
            f"{file}{f':{line}' if line else ''}: not valid Python: {getattr(exc, 'msg', exc)}",
            hint="Kedro imports this file too: fix it",
        ) from None
    statements = _needed_statements(tree.body)
    namespace: dict[str, Any] = {
        "__builtins__": _SAFE_BUILTINS, "__file__": str(file), "__name__": "settings"}
    imported: dict[str, int] = {}  # names imported from modules bricksmith does not load
    loader_names: set[str] = set()  # names imported from kedro.config
    warnings: list[str] = []
    for statement in statements:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            _import(statement, namespace, imported, loader_names)
            continue
        if _is_loader_class(statement):
            warning = _loader_class_warning(file, statement, loader_names)
            if warning:
                warnings.append(warning)
            continue
        code = compile(ast.Module(body=[statement], type_ignores=[]), str(file), "exec")
        try:
            exec(code, namespace)  # noqa: S102 - the project's own settings, a few statements
        except Exception as exc:  # noqa: BLE001 - whatever the statement raises
            names = _assigned(statement)
            if not names & set(SETTINGS_NAMES) and not _is_call_on_setting(statement):
                for name in names:  # a helper value we cannot have: its users will say so
                    namespace.pop(name, None)
                continue
            raise ProjectConfError(
                f"{file}:{statement.lineno}: bricksmith cannot evaluate "
                f"`{_source_line(source, statement)}` without importing the project: "
                f"{_why(exc, imported)}",
                hint="bricksmith reads CONF_SOURCE and CONFIG_LOADER_ARGS without importing "
                "settings.py; compute them from pathlib/os and literals only (e.g. "
                "CONF_SOURCE = str(Path(__file__).parent / \"conf\"))",
            ) from None
    values = {name: namespace[name] for name in SETTINGS_NAMES if name in namespace}
    return values, warnings


def _needed_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The top-level statements that define the settings bricksmith reads, in order, with the
    imports, assignments and functions they refer to (by name, transitively)."""
    needed = set(SETTINGS_NAMES)
    chosen: set[int] = set()
    changed = True
    while changed:
        changed = False
        for index, statement in enumerate(body):
            if index in chosen or not _defines(statement) & needed:
                continue
            if isinstance(statement, ast.FunctionDef) and statement.decorator_list:
                continue
            chosen.add(index)
            changed = True
            if not isinstance(statement, (ast.Import, ast.ImportFrom)):
                needed |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)}
    return [statement for index, statement in enumerate(body) if index in chosen]


def _defines(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.Import):
        return {(a.asname or a.name).split(".")[0] for a in statement.names}
    if isinstance(statement, ast.ImportFrom):
        return {a.asname or a.name for a in statement.names}
    if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
        return {statement.name}
    if _is_call_on_setting(statement):  # CONFIG_LOADER_ARGS.update(...)
        return {statement.value.func.value.id}  # type: ignore[attr-defined]
    if isinstance(statement, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
        # `if os.environ.get(...): CONF_SOURCE = ...`: the whole statement counts
        return {name for inner in ast.walk(statement) if isinstance(inner, ast.stmt)
                and inner is not statement for name in _defines(inner)}
    return _assigned(statement)


def _assigned(statement: ast.stmt) -> set[str]:
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)) and statement.value is not None:
        targets = [statement.target]
    names = set()
    for target in targets:
        while isinstance(target, (ast.Subscript, ast.Attribute)):  # X["k"] = ..., X.a = ...
            target = target.value
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            names |= {e.id for e in target.elts if isinstance(e, ast.Name)}
    return names


def _is_call_on_setting(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Attribute)
        and isinstance(statement.value.func.value, ast.Name)
        and statement.value.func.value.id in SETTINGS_NAMES
    )


def _import(statement, namespace: dict, imported: dict[str, int], loader_names: set) -> None:
    import importlib

    if isinstance(statement, ast.Import):
        for alias in statement.names:
            bound = (alias.asname or alias.name).split(".")[0]
            if alias.name in _STDLIB_MODULES:
                module = importlib.import_module(alias.name if alias.asname else bound)
                namespace[bound] = module
            else:
                imported[bound] = statement.lineno
        return
    module_name = statement.module or ""
    for alias in statement.names:
        bound = alias.asname or alias.name
        if statement.level == 0 and module_name in _STDLIB_MODULES:
            module = importlib.import_module(module_name)
            if hasattr(module, alias.name):
                namespace[bound] = getattr(module, alias.name)
                continue
        if module_name == "kedro.config":
            loader_names.add(bound)
        imported[bound] = statement.lineno


def _is_loader_class(statement: ast.stmt) -> bool:
    return "CONFIG_LOADER_CLASS" in _assigned(statement)


def _loader_class_warning(file: Path, statement: ast.stmt, loader_names: set[str]) -> str:
    value = getattr(statement, "value", None)
    name = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", None)
    if name == "OmegaConfigLoader":
        return ""
    return (
        f"{file}:{statement.lineno}: CONFIG_LOADER_CLASS is {name or 'an expression'}, not "
        "Kedro's OmegaConfigLoader: bricksmith reads the configuration with OmegaConfigLoader "
        "and the same CONF_SOURCE, patterns and environments"
    )


def _why(exc: BaseException, imported: Mapping[str, int]) -> str:
    if isinstance(exc, NameError) and getattr(exc, "name", None) in imported:
        return (f"{exc.name!r} comes from the import at line {imported[exc.name]}, "  # type: ignore[attr-defined]
                "which bricksmith does not run")
    return f"{type(exc).__name__}: {exc}"


def _source_line(source: str, statement: ast.stmt) -> str:
    text = ast.get_source_segment(source, statement) or ""
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= 80 else first[:77] + "..."
