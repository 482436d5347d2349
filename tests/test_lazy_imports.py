"""validate, plan and status never import the heavy libraries: Kedro, databricks-sdk,
GitPython or IPython (each costs more than planning thousands of steps). networkx holds the
compiled DAG, so commands that compile the spec import it (about 0.16 s); a plan replayed from
its memo compiles nothing and imports none of them, networkx included. (Once the project
exists, a full plan imports Kedro's config loader to check the spec's parameter names against
the project's parameters: about 0.3 s; a replayed plan memo does not.)"""

import json
import subprocess
import sys

from tests.reliability.harness import REPO, seed_spec

PROBE = """
import json, sys
from bricksmith import cli
code = cli.main(sys.argv[1:])
heavy = ("git", "kedro", "databricks", "networkx", "IPython", "requests")
print(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))
"""


def imported(command: str, spec) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, command, str(spec)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


def test_validate_plan_and_status_stay_light(tmp_path):
    spec = seed_spec(tmp_path)
    for command in ("validate", "plan", "status"):  # each compiles the spec
        assert imported(command, spec) == (0, ["networkx"]), command


def test_a_replayed_plan_imports_not_even_networkx(tmp_path):
    spec = seed_spec(tmp_path)
    assert imported("plan", spec) == (0, ["networkx"])  # in full: writes the memo
    assert imported("plan", spec) == (0, [])  # replayed
