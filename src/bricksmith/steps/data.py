"""data.upload[i]: a folder of the project copied to DBFS or a volume, incrementally."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bricksmith.errors import DataSyncError
from bricksmith.steps.base import Outputs, Step, StepContext


class UploadData(Step):
    deps = ("project.scaffold",)
    title = "copy project data to DBFS"

    def __init__(self, index: int, *, source: str, target: str, target_settings: Mapping) -> None:
        self.key = f"data.upload[{index}]"
        self.source, self.target, self.target_settings = source, target, dict(target_settings)

    def inputs(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "workspace": self.target_settings}

    def check(self, ctx: StepContext, outputs: Outputs) -> list[str]:
        return ctx.backend.upload_drift(ctx.project_dir / self.source, outputs)

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return ctx.backend.upload_probes(ctx.project_dir / self.source, outputs)

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        source = ctx.project_dir / self.source
        if not source.is_dir():
            raise DataSyncError(
                f"data source {self.source!r} does not exist in the project ({source})",
                hint="fix data[].source in the spec: a folder relative to the Kedro project",
            )
        return ctx.backend.upload(source, self.target, ctx.previous, ctx.log)
