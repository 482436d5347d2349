from __future__ import annotations

import json
import subprocess
import sys

import bricksmith.spec as spec


def test_public_names():
    from bricksmith.spec.models import Workflow
    from bricksmith.spec.schema import json_schema, render_schema
    from bricksmith.spec.validate import LoadedSpec, load_spec

    assert spec.load_spec is load_spec
    assert spec.LoadedSpec is LoadedSpec
    assert spec.Workflow is Workflow
    assert spec.json_schema is json_schema
    assert spec.render_schema is render_schema
    assert set(spec.__all__) <= set(dir(spec))


def test_unknown_attribute():
    try:
        spec.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_imports_stay_light():
    """Loading and validating a spec never imports the heavy or out-of-bounds packages."""
    code = (
        "import sys, json, bricksmith.spec as s\n"
        "import bricksmith.spec.validate\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('networkx', 'kedro', 'git', 'databricks', 'jsonschema', 'rich'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []  # jsonschema too is only imported when validating


def test_validating_imports_no_forbidden_package(tmp_path):
    from .conftest import MINIMAL

    path = tmp_path / "workflow.yaml"
    path.write_text(MINIMAL)
    code = (
        "import sys, json\n"
        "from bricksmith.spec import load_spec\n"
        f"load_spec({str(path)!r}, environ={{}})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'networkx', 'kedro', 'git', 'databricks'})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
