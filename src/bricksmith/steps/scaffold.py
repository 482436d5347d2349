"""project.scaffold: the Kedro project, created with Kedro's own project creation.

A project that already exists at ``project.path`` is adopted as it is: nothing is created,
overwritten or fetched (a git starter is never cloned then). The starter is only how a missing
project is created, so it is not among the step's inputs: changing it, or editing a local
template, never makes the plan re-run a project that exists (and every step after it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bricksmith.errors import ScaffoldError
from bricksmith.made import Made
from bricksmith.steps.base import Outputs, Step, StepContext


def is_kedro_project(folder) -> bool:
    pyproject = folder / "pyproject.toml"
    return pyproject.is_file() and "[tool.kedro]" in pyproject.read_text(errors="replace")


class ScaffoldProject(Step):
    key = "project.scaffold"
    title = "create the Kedro project from its starter"

    def __init__(
        self,
        *,
        starter: str,
        path: str,
        name: str,
        directory: str | None = None,
        checkout: str | None = None,
    ) -> None:
        """``directory``/``checkout``: the spec's ``project.starter_directory`` and
        ``starter_checkout``; when None, read from the spec at apply time."""
        self.starter, self.path, self.name = starter, path, name
        self.directory, self.checkout = directory, checkout

    may_adopt = True

    def inputs(self) -> dict[str, Any]:
        return {"path": self.path}

    def adopts(self, ctx: StepContext) -> str | None:
        if is_kedro_project(ctx.project_dir):
            return (f"adopt the existing project at {ctx.project_dir}: it already holds a "
                    "Kedro project (nothing is generated or overwritten)")
        return None

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        if not is_kedro_project(ctx.project_dir):
            return [f"Kedro project {ctx.project_dir} is missing"]
        return []

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        from bricksmith.observations import observe_all

        return observe_all([ctx.project_dir / "pyproject.toml"])

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        from bricksmith.starters import (
            clean_staging,
            create_project,
            describe_starter,
            project_staging,
            starter_template,
        )

        dest = ctx.project_dir
        if is_kedro_project(dest):
            clean_staging(dest)  # of a creation killed while another one finished
            ctx.log(f"adopted the existing Kedro project at {dest}")
            return {"path": str(dest)}
        if dest.exists() and not dest.is_dir():
            raise ScaffoldError(
                f"{dest} is a file, not a Kedro project folder",
                hint="point project.path at an empty or missing folder, or at a Kedro project",
            )
        if dest.exists() and any(dest.iterdir()):
            raise ScaffoldError(
                f"{dest} exists but is not a Kedro project (no pyproject.toml with [tool.kedro])",
                hint="point project.path at an empty or missing folder, or at a Kedro project",
            )
        directory, checkout = self._options(ctx)
        log_path = Made(ctx.root).file(ctx.logs_dir / "scaffold.log")
        # everything the creation writes (a starter's clone, kedro new's output and temporary
        # files) is in one staging folder next to the project, which a later scaffold removes
        # when a kill left it behind
        with project_staging(dest) as staging, starter_template(
            self.starter, ctx.spec.base_dir, directory=directory, checkout=checkout,
            scratch=staging,
        ) as starter:
            create_project(
                starter, dest, project_name=self.name, log_path=log_path, staging=staging
            )
        shown = describe_starter(self.starter, directory, checkout)
        ctx.log(f"created the Kedro project {dest} from {shown}")
        return {"path": str(dest)}

    def _options(self, ctx: StepContext) -> tuple[str | None, str | None]:
        project = ctx.spec.workflow.project
        directory = self.directory or getattr(project, "starter_directory", None)
        checkout = self.checkout or getattr(project, "starter_checkout", None)
        return directory, checkout
