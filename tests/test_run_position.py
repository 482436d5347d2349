"""Where a local run is (``bricksmith.run_position``), read from the lines its own writers
print: the notebook kernel's cell banner and bricksmith's Kedro hook's node line; and the
hook's one-line Kedro log records."""

from __future__ import annotations

import importlib.util
import io
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bricksmith.backends.kernels import KERNEL
from bricksmith.backends.run_sandbox import HOOKS_PATH
from bricksmith.run_position import RunPosition

if str(HOOKS_PATH) not in sys.path:
    sys.path.append(str(HOOKS_PATH))

from bricksmith_run_hooks import RunHooks  # noqa: E402
from bricksmith_run_hooks.logs import one_line_records  # noqa: E402

RECORDED = Path(__file__).parent / "fixtures" / "progress" / "baseline.log"


def kernel_module():
    spec = importlib.util.spec_from_file_location("notebook_kernel_for_position_test", KERNEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def follow(lines) -> list[RunPosition]:
    position, seen = RunPosition(), []
    for line in lines:
        moved = position.advanced(line)
        if moved is not None:
            position = moved
            seen.append(position)
    return seen


def test_the_kernels_cell_banner_is_read(capsys):
    kernel_module()._banner(6, 8, "# a comment first\nsession.run()\nmore()")
    banner = capsys.readouterr().out
    (position,) = follow(banner.splitlines())
    assert (position.cell, position.cells, position.code) == (6, 8, "session.run()")
    assert position.describe() == "cell 6/8 session.run()"


def test_the_hooks_node_line_is_read(capsys, monkeypatch):
    monkeypatch.setenv("BRICKSMITH_DBFS_ROOT", "/t/dbfs")
    hooks = RunHooks()
    hooks.before_pipeline_run(SimpleNamespace(nodes=["a", "b", "c"]))
    for name in ("split", "make_predictions"):
        hooks.before_node_run(SimpleNamespace(name=name))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["[bricksmith] node 1/3: split", "[bricksmith] node 2/3: make_predictions"]
    position = follow(["===== [notebook] cell 7/8: session.run() =====", *lines])[-1]
    assert position.describe() == "cell 7/8 · node 2/3 make_predictions"


def test_no_node_line_outside_a_local_run(capsys, monkeypatch):
    monkeypatch.delenv("BRICKSMITH_DBFS_ROOT", raising=False)
    hooks = RunHooks()
    hooks.before_pipeline_run(SimpleNamespace(nodes=["a"]))
    hooks.before_node_run(SimpleNamespace(name="a"))
    assert capsys.readouterr().out == ""


def test_a_recorded_run_log_moves_through_every_cell_and_node():
    seen = follow(RECORDED.read_text(encoding="utf-8").splitlines())
    described = [p.describe(60) for p in seen]
    assert [p.cell for p in seen if not p.node and not p.ended] == list(range(1, 9))
    assert "cell 7/8 · node 1/3 split" in described
    assert "cell 7/8 · node 3/3 report_accuracy" in described
    assert described.index("cell 7/8 · node 1/3 split") < described.index(
        "cell 7/8 · node 2/3 make_predictions")
    assert seen[-2].describe() == "cell 8/8 import json"  # a new cell forgets the node
    assert seen[-1].ended


@pytest.mark.parametrize("width", [20, 30, 44, 80])
def test_describe_fits_and_keeps_both_ends_of_a_long_name(width):
    position = RunPosition(7, 8, "session.run()", 12, 140,
                           "train_a_model_with_a_rather_long_node_name_for_the_iris_data")
    text = position.describe(width)
    assert len(text) <= width and text.startswith("cell 7/8 · node 12/140"[:width])
    if width >= 44:
        assert text.startswith("cell 7/8 · node 12/140 train_a") and text.endswith("iris_data")
    assert RunPosition().describe() == ""


def test_kedros_rich_records_become_one_line_each():
    from rich.console import Console
    from rich.logging import RichHandler

    out = io.StringIO()
    handler = RichHandler(console=Console(file=out, width=40))
    logger = logging.getLogger("kedro.bricksmith_test")
    root = logging.getLogger()
    root.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert one_line_records() == 1
        assert one_line_records() == 0  # once per handler
        long = ("Running node: report_accuracy: report_accuracy([y_pred;y_test;y_train;"
                "params:train_fraction]) -> [metrics]")
        logger.info(long)
        logger.warning("first line\nsecond line\n")
    finally:
        root.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines  # 40 columns did not wrap them
    assert " INFO     " + long + "  test_run_position.py:" in lines[0]
    assert lines[1].endswith("first line  test_run_position.py:" + lines[1].rsplit(":", 1)[1])
    assert lines[2] == "second line"
