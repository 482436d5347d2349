"""Where a local run is: its notebook cell and its Kedro node, read from the run's log.

Two kinds of line mark it, each written by the run's own process (which never imports
bricksmith, so the formats live there and are mirrored here; ``tests/test_run_position.py``
checks both against their writers):

- the notebook kernel's banner before each cell (``backends/notebook_kernel.py``,
  ``_banner``): ``===== [notebook] cell 6/8: session.run() =====``;
- bricksmith's Kedro hook before each node (``kedro_run/bricksmith_run_hooks``,
  ``before_node_run``): ``[bricksmith] node 2/3: make_predictions``.

Only a local run has these lines. A Databricks run is followed through the Jobs API instead
(life-cycle state and run page, logged by the backend): no node progress is made up for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

CELL = re.compile(r"^===== \[notebook\] cell (\d+)/(\d+): ?(.*?) =====\s*$")
NODE = re.compile(r"^\[bricksmith\] node (\d+)/(\d+): (.+?)\s*$")
ENDED = re.compile(r"^===== \[notebook\] (?:exited at cell \d+/\d+|finished: \d+ cells) =====")


@dataclass(frozen=True)
class RunPosition:
    """A run's notebook cell (1-based, of ``cells``) and, while that cell runs the pipeline,
    its Kedro node (1-based, of ``nodes``: the order Kedro started them in)."""

    cell: int = 0
    cells: int = 0
    code: str = ""  # the cell's first line of code
    node: int = 0
    nodes: int = 0
    node_name: str = ""
    ended: bool = False

    def advanced(self, line: str) -> RunPosition | None:
        """The position after the log line ``line``; None when the line does not move it."""
        text = line.strip()
        if match := CELL.match(text):
            return RunPosition(int(match[1]), int(match[2]), match[3].strip())
        if match := NODE.match(text):
            return replace(self, node=int(match[1]), nodes=int(match[2]),
                           node_name=match[3])
        if ENDED.match(text):
            return replace(self, ended=True, node=0, nodes=0, node_name="")
        return None

    def describe(self, width: int = 60) -> str:
        """``cell 6/8 · node 2/3 make_predictions`` (``cell 3/8 %load_ext kedro.ipython``
        before the pipeline runs), in at most ``width`` characters: the node's name or the
        cell's code loses its middle (never its ends) first. '' before the first cell."""
        from bricksmith.runs import shorten_middle

        if not self.cell:
            return ""
        head = f"cell {self.cell}/{self.cells}"
        if self.node:
            head += f" · node {self.node}/{self.nodes}"
            tail = self.node_name
        else:
            tail = self.code
        room = width - len(head) - 1
        if not tail or room < 8:
            return head[:width]
        return f"{head} {shorten_middle(tail, room)}"
