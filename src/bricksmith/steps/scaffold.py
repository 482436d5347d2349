"""project.scaffold: the Kedro project, created with Kedro's own project creation.

A project that already exists at ``project.path`` is adopted as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bricksmith.errors import ScaffoldError
from bricksmith.steps.base import Outputs, Step, StepContext


def is_kedro_project(folder) -> bool:
    pyproject = folder / "pyproject.toml"
    return pyproject.is_file() and "[tool.kedro]" in pyproject.read_text(errors="replace")


class ScaffoldProject(Step):
    key = "project.scaffold"
    title = "create the Kedro project from its starter"

    def __init__(self, *, starter: str, path: str, name: str) -> None:
        self.starter, self.path, self.name = starter, path, name

    def inputs(self) -> dict[str, Any]:
        return {"starter": self.starter, "path": self.path}

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        if not is_kedro_project(ctx.project_dir):
            return [f"Kedro project {ctx.project_dir} is missing"]
        return []

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        from bricksmith.starters import create_project, starter_template

        dest = ctx.project_dir
        if is_kedro_project(dest):
            ctx.log(f"adopted the existing Kedro project at {dest}")
            return {"path": str(dest)}
        if dest.exists() and any(dest.iterdir()):
            raise ScaffoldError(
                f"{dest} exists but is not a Kedro project (no pyproject.toml with [tool.kedro])",
                hint="point project.path at an empty or missing folder, or at a Kedro project",
            )
        ctx.logs_dir.mkdir(parents=True, exist_ok=True)
        with starter_template(self.starter, ctx.spec.base_dir) as starter:
            create_project(
                starter, dest, project_name=self.name, log_path=ctx.logs_dir / "scaffold.log"
            )
        ctx.log(f"created the Kedro project {dest} from {self.starter}")
        return {"path": str(dest)}
