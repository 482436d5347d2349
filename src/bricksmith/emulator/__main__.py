"""``python -m bricksmith.emulator serve --port N --root DIR [...]``: serve an emulated workspace
(the same options as ``bricksmith emulator serve``)."""

from __future__ import annotations

import argparse
import sys

from bricksmith.emulator import DEFAULT_CLUSTER_ID, DEFAULT_USER, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bricksmith.emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("serve", help="serve the Databricks API emulator")
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=0, help="0 picks a free port")
    command.add_argument("--root", default=".bricksmith/emulator", help="where it keeps its data")
    command.add_argument("--token", default=None, help="require this bearer token")
    command.add_argument("--fault-rate", type=float, default=0.0, help="share of failed requests")
    command.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    command.add_argument("--seed", type=int, default=None, help="for reproducible faults")
    command.add_argument("--user", default=DEFAULT_USER)
    command.add_argument("--python", default=None, help="run notebooks with this interpreter")
    command.add_argument("--cluster-id", default=DEFAULT_CLUSTER_ID, help="its one cluster's id")
    command.add_argument("--serverless", action="store_true", help="serverless jobs enabled")
    command.add_argument("--dbfs-root-disabled", action="store_true", help="no DBFS root")
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        args.root,
        token=args.token,
        fault_rate=args.fault_rate,
        latency_ms=args.latency_ms,
        seed=args.seed,
        user=args.user,
        python=args.python,
        cluster_id=args.cluster_id,
        serverless=args.serverless,
        dbfs_root_disabled=args.dbfs_root_disabled,
        ready=lambda line: print(line, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
