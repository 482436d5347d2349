"""project.params: the spec's parameters written into conf/base/parameters.yml.

Top-level scalar values are replaced in place, so the file keeps its comments and order;
anything else (new keys, nested values) is merged and the file re-written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bricksmith.errors import StepError
from bricksmith.steps.base import Outputs, Step, StepContext

PARAMS_FILE = "conf/base/parameters.yml"


def read_params(file: Path) -> dict[str, Any]:
    if not file.is_file():
        return {}
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise StepError(
            f"{file} is not valid YAML: {exc}", hint="fix the file or restore it from git"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StepError(f"{file} must hold a mapping of parameters")
    return data


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def render_params(text: str, current: dict[str, Any], wanted: Mapping[str, Any]) -> str:
    """``text`` with ``wanted`` merged in, touching as little of the file as it can."""
    merged = {**current, **wanted}
    lines = text.splitlines(keepends=True)
    rest = {}
    for key, value in wanted.items():
        if current.get(key) == value:
            continue
        pattern = re.compile(rf"^({re.escape(str(key))}\s*:\s*)([^#\n]*?)(\s*(#.*)?)$")
        hits = [i for i, line in enumerate(lines) if pattern.match(line.rstrip("\n"))]
        if _scalar(value) and _scalar(current.get(key)) and key in current and len(hits) == 1:
            i = hits[0]
            dumped = yaml.safe_dump(value, default_flow_style=True).strip()
            dumped = dumped.removesuffix("\n...").removesuffix("...").strip()
            line = lines[i].rstrip("\n")
            lines[i] = pattern.sub(lambda m, d=dumped: m.group(1) + d + m.group(3), line) + "\n"
        else:
            rest[key] = value
    if not rest:
        return "".join(lines)
    return yaml.safe_dump(merged, sort_keys=False, default_flow_style=False)


class WriteParams(Step):
    key = "project.params"
    deps = ("project.scaffold",)
    title = "write the spec's parameters into conf/base/parameters.yml"

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def inputs(self) -> dict[str, Any]:
        return {"params": self.params}

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        current = read_params(ctx.project_dir / PARAMS_FILE)
        return [
            f"{PARAMS_FILE}: {key} is {current.get(key)!r}, the spec says {value!r}"
            for key, value in self.params.items()
            if current.get(key) != value
        ]

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        from bricksmith.plan.probes import observe_all

        return observe_all([ctx.project_dir / PARAMS_FILE])

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        file = ctx.project_dir / PARAMS_FILE
        current = read_params(file)
        text = file.read_text() if file.is_file() else ""
        new = render_params(text, current, self.params)
        if yaml.safe_load(new) != {**current, **self.params}:  # never write a wrong file
            new = yaml.safe_dump({**current, **self.params}, sort_keys=False)
        if new != text:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(new)
            ctx.log(f"wrote {', '.join(self.params)} to {PARAMS_FILE}")
        return {"file": PARAMS_FILE, "sha256": hashlib.sha256(new.encode()).hexdigest()}
