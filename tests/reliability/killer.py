"""An apply that SIGKILLs itself at a chosen point: ``python -m tests.reliability.killer SPEC
--at started:git.push [--delay 1.5] [--parallelism N]``.

The point is an engine event (``started:<step>`` right after the step is marked running,
``succeeded:<step>`` right after its result is committed); with ``--delay`` the kill comes that
many seconds after the event, inside the step. A step that ends before the delay is up is
killed right at its end instead (the chain of kill points stays in order on a fast machine), and
a line on stderr says so. Exit code 3 means the point was never reached (the apply finished
first).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from bricksmith import api
from bricksmith.errors import BricksmithError


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--at", required=True, help="started:<step> or succeeded:<step>")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--parallelism", type=int, default=4)
    args = parser.parse_args()
    kind, _, step = args.at.partition(":")

    def kill() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    timers: list[threading.Timer] = []

    def on_event(event) -> None:
        if event.step != step:
            return
        if event.kind == kind:
            if args.delay:
                timers.append(threading.Timer(args.delay, kill))
                timers[-1].start()
            else:
                kill()
        elif timers and event.kind in ("succeeded", "failed"):
            print(f"moved: {step} ended within {args.delay:g}s; killed at its end",
                  file=sys.stderr, flush=True)
            kill()

    try:
        api.load(args.spec).apply(parallelism=args.parallelism, on_event=on_event)
    except BricksmithError as exc:
        print(f"apply failed: {exc.message}", file=sys.stderr)
        return 1
    return 3


if __name__ == "__main__":
    sys.exit(main())
