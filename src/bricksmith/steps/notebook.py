"""notebook.deploy: the project notebook, in Databricks SOURCE format, in the workspace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bricksmith.steps.base import Outputs, Step, StepContext

NOTEBOOK_FORMAT = 2  # bump when render_notebook's output changes shape


class DeployNotebook(Step):
    key = "notebook.deploy"
    title = "deploy the notebook that runs the project"

    def __init__(
        self, *, name: str, data_target: str | None, target_settings: Mapping[str, Any]
    ) -> None:
        self.name, self.data_target = name, data_target
        self.target_settings = dict(target_settings)

    def inputs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_target": self.data_target,
            "workspace": self.target_settings,
            "format": NOTEBOOK_FORMAT,
        }

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        return ctx.backend.notebook_drift(outputs)

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return ctx.backend.notebook_probes(outputs)

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        from bricksmith.notebook import render_notebook

        backend = ctx.backend
        data_root = backend.data_path(self.data_target) if self.data_target else ""
        source = render_notebook(
            title=self.name, repo_path=backend.repo_path(self.name), data_root=data_root
        )
        outputs = backend.deploy_notebook(backend.notebook_path(self.name), source)
        ctx.log(f"deployed the notebook {outputs['path']}")
        return {**outputs, "data_root": data_root}
