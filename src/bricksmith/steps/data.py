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
        return ctx.backend.upload_drift(
            ctx.project_dir / self.source, outputs, within=ctx.project_dir
        )

    def probes(self, ctx: StepContext, outputs: Outputs) -> list | None:
        return ctx.backend.upload_probes(
            ctx.project_dir / self.source, outputs, within=ctx.project_dir
        )

    def vet(self, ctx: StepContext) -> list | None:
        """Before a plan lists this upload: refuse a data folder that holds an entry that
        cannot be uploaded (a symlink leading out of the project, a dangling link, a loop),
        naming it, and a target another workflow uploads to (``backends.owners``). Raises
        :class:`DataSyncError`; reads no data file. Probes of the folders walked (None: one
        changed too recently)."""
        from bricksmith.backends.filesync import check_source

        probes = check_source(ctx.project_dir / self.source, ctx.project_dir)
        owned = ctx.backend.check_upload_owner(self.target, ctx.spec.workflow.name)
        return None if probes is None or owned is None else probes + owned

    def apply(self, ctx: StepContext, upstream: Mapping[str, Outputs]) -> Outputs:
        source = ctx.project_dir / self.source
        if not source.is_dir():
            raise DataSyncError(
                f"data source {self.source!r} does not exist in the project ({source})",
                hint="fix data[].source in the spec: a folder relative to the Kedro project",
            )
        outputs = ctx.backend.upload(
            source, self.target, ctx.previous, ctx.log,
            within=ctx.project_dir, checkpoint=ctx.checkpoint,
            workflow=ctx.spec.workflow.name,
        )
        return {**outputs, "_workflow": ctx.spec.workflow.name}
