import os
import shutil
import struct
import subprocess

import pytest

from bricksmith import graphviz
from bricksmith.errors import UsageError
from bricksmith.graphviz import GraphvizError, render_png
from bricksmith.plan.graph import graph_of, to_dot
from tests.engine.fakes import FakeStep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def needs_dot():
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz's `dot` is missing in CI: install the graphviz package")
        pytest.skip("Graphviz's `dot` is not installed")


def sample_dot() -> str:
    keys = ["project.scaffold", "data.upload[0]", "run.split-70", 'odd "key"\\x']
    steps = [FakeStep(keys[0]), *(FakeStep(k, deps=[keys[0]]) for k in keys[1:])]
    return to_dot(graph_of(steps), {keys[0]: "succeeded", keys[1]: "failed", keys[2]: "running"})


def png_size(data: bytes) -> tuple[int, int]:
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_renders_a_real_png(needs_dot, tmp_path):
    out = render_png(sample_dot(), tmp_path / "graph.png")
    data = out.read_bytes()
    assert out == tmp_path / "graph.png"
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000
    width, height = png_size(data)
    assert width > 200 and height > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.png"]  # no temp file left


def test_overwrites_an_existing_png(needs_dot, tmp_path):
    out = tmp_path / "graph.png"
    out.write_bytes(b"old")
    assert render_png(sample_dot(), out).read_bytes().startswith(PNG_SIGNATURE)


def test_missing_dot_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without dot
    with pytest.raises(UsageError) as caught:
        render_png(sample_dot(), tmp_path / "graph.png")
    assert "Graphviz" in caught.value.message and "`dot`" in caught.value.message
    hint = caught.value.hint
    assert "apt-get install graphviz" in hint and "brew install graphviz" in hint
    assert "--format dot" in hint and "--format mermaid" in hint
    assert list(tmp_path.iterdir()) == []


def test_missing_dot_via_which(monkeypatch, tmp_path):
    monkeypatch.setattr(graphviz.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="not on PATH"):
        graphviz.find_dot()


def test_bad_dot_source_is_a_graphviz_error(needs_dot, tmp_path):
    with pytest.raises(GraphvizError, match="failed") as caught:
        render_png("digraph { this is not dot", tmp_path / "graph.png")
    assert "--format dot" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


def test_a_hanging_dot_times_out(monkeypatch, tmp_path):
    monkeypatch.setattr(graphviz.shutil, "which", lambda name: "/usr/bin/dot")

    def hang(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])

    monkeypatch.setattr(graphviz.subprocess, "run", hang)
    with pytest.raises(GraphvizError, match="within 0.5 s"):
        render_png("digraph {}", tmp_path / "graph.png", timeout=0.5)
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folder_is_a_usage_error(needs_dot, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        render_png(sample_dot(), tmp_path / "nope" / "graph.png")
