import json
from pathlib import Path

from bricksmith.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_schema_prints_the_checked_in_schema(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((ROOT / "workflow.schema.json").read_text())
    assert "runs" in printed["properties"]


def test_databricks_without_credentials_fails_before_anything_is_written(
    tmp_path, capsys, monkeypatch
):
    for name in ("DATABRICKS_TOKEN", "DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no.databrickscfg"))
    spec = tmp_path / "w.yaml"
    spec.write_text(
        "version: 1\nname: demo\nproject: {path: demo}\nrepo: {remote: demo.git}\n"
        "target: dev\ntargets:\n  dev: {backend: databricks, host: 'https://example.invalid'}\n"
    )
    assert main(["--no-color", "apply", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to Databricks" in err and "host https://example.invalid" in err
    assert "DATABRICKS_TOKEN" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.yaml"]


def test_validate_summarises_a_valid_spec(capsys):
    assert main(["validate", str(ROOT / "specs/iris.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "9 steps" in out and "2 run(s)" in out
