"""Kedro's log records as one line each in a local run's log.

Kedro's default logging (``rich_logging.yml``) prints through rich's ``RichHandler``, which lays
each record out as a table as wide as the console (``COLUMNS``, 160 in a local run): a long
message is wrapped inside its column and every line is padded to the full width, so
``bricksmith apply -v`` showed one record as several padded lines. Here each ``RichHandler`` on
the root and ``kedro`` loggers renders ``TIME LEVEL MESSAGE  FILE:LINE`` as one line of text
instead (for a message of several lines, ``FILE:LINE`` ends its first), through
``RichHandler.render`` (its documented rendering method); its console does not wrap text
(``Console.soft_wrap``). A traceback is still rendered by rich, below the line. Only a local
run calls this: a cluster's output is left as Kedro makes it.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

_MARK = "_bricksmith_one_line"


def one_line_records() -> int:
    """Make every rich log handler of the root and ``kedro`` loggers print one line per record
    (a multi-line message keeps its own line breaks). Returns how many handlers it changed;
    0 when rich is not installed or the project logs otherwise."""
    try:
        from rich.logging import RichHandler
    except ImportError:
        return 0
    changed = 0
    for name in ("", "kedro"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, RichHandler) and not getattr(handler, _MARK, False):
                handler.render = _one_line(handler)  # type: ignore[method-assign]
                handler.console.soft_wrap = True
                setattr(handler, _MARK, True)
                changed += 1
    return changed


def _one_line(handler: Any):
    original = handler.render

    def render(*, record: logging.LogRecord, traceback: Any, message_renderable: Any) -> Any:
        from rich.console import Group
        from rich.text import Text

        if not isinstance(message_renderable, Text):  # markup objects: rich lays them out
            return original(record=record, traceback=traceback,
                            message_renderable=message_renderable)
        when = datetime.fromtimestamp(record.created)
        datefmt = handler.formatter.datefmt if handler.formatter is not None else None
        first, *rest = message_renderable.split("\n", allow_blank=True)
        while rest and not rest[-1].plain.strip():
            rest.pop()
        line = Text.assemble(
            (when.strftime(datefmt or "[%x %X]"), "log.time"), " ",
            handler.get_level_text(record), " ",
            first, "  ",
            (f"{os.path.basename(record.pathname)}:{record.lineno}", "log.path"),
        )
        if rest:  # a message of several lines: the place it came from ends the first
            line.append("\n")
            line.append(Text("\n").join(rest))
        return Group(line, traceback) if traceback is not None else line

    return render
