"""validate, plan and status never import the heavy libraries: Kedro, databricks-sdk,
GitPython, networkx or IPython (each costs more than planning thousands of steps). (Once the
project exists, a full plan imports Kedro's config loader to check the spec's parameter names
against the project's parameters: about 0.3 s; a replayed plan memo does not.)"""

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


def test_validate_plan_and_status_stay_light(tmp_path):
    spec = seed_spec(tmp_path)
    for command in ("validate", "plan", "status"):
        done = subprocess.run([sys.executable, "-c", PROBE, command, str(spec)], cwd=REPO,
                              capture_output=True, text=True, check=True)
        code, heavy = json.loads(done.stdout.strip().splitlines()[-1])
        assert (code, heavy) == (0, []), (command, done.stderr)
