"""The README's quickstart, command by command, on the local backend: it must stay true."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from bricksmith.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quickstart") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_readme_quickstart_works_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ran = []
    for words in quickstart_commands():
        if words[0] in ("python3", "pip"):
            assert words[0] == "python3" or words[-1] == "/path/to/bricksmith", words
            continue  # the test runs in the installed checkout
        if words[0] == "cd":
            monkeypatch.chdir(words[1])
            continue
        assert words[0] == "bricksmith", words
        assert main(["--no-color", *words[1:]]) == 0, (words, capsys.readouterr())
        ran.append(words[1])
        if words[1] == "report":
            page = Path(".bricksmith/local/report.html").read_text(encoding="utf-8")
            assert "split-70" in page and "<svg" in page
    assert ran == ["init", "plan", "apply", "runs", "report", "destroy"]
    out = capsys.readouterr().out
    assert "0.9333" in out and "0.9556" in out  # baseline and split-70 accuracy, compared
    # destroyed: the target's state and workspace are gone, the project and its remote stay
    assert not Path(".bricksmith/local/state.db").exists()
    assert not Path(".bricksmith/local/Workspace").exists()
    assert Path("iris-demo/conf/base/parameters.yml").is_file()
    assert Path("iris-demo.git/HEAD").is_file()
