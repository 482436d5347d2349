"""The workspace Git folder's edits: each file changed, added or removed since its commit, with
a unified diff against that commit; what runs write is no edit."""

from __future__ import annotations

from bricksmith.backends.workspace_edits import describe_edits, folder_edits, unified_diff
from tests.backends.test_git_safety import make_clone


def test_unified_diff_reads_like_git_diff():
    diff = unified_diff("p.yml", b"a: 1\nb: 2\n", b"a: 1\nb: 3\n")
    assert diff.splitlines() == ["--- a/p.yml", "+++ b/p.yml", "@@ -1,2 +1,2 @@", " a: 1",
                                 "-b: 2", "+b: 3"]
    assert unified_diff("n.py", None, b"x = 1").splitlines() == [
        "--- /dev/null", "+++ b/n.py", "@@ -0,0 +1 @@", "+x = 1", "\\ No newline at end of file"]
    assert unified_diff("gone", b"x\n", None).splitlines()[:2] == ["--- a/gone", "+++ /dev/null"]
    assert unified_diff("i.png", b"\x89PNG\0", b"\x89PNG\0\1") == "Binary file i.png differs\n"
    assert unified_diff("same", b"x\n", b"x\n") == ""


def test_folder_edits_name_each_file_and_its_change_against_the_commit(tmp_path):
    _remote, clone, commit = make_clone(tmp_path)
    assert folder_edits(clone) == []
    (clone / "conf/base/parameters.yml").write_text("train_fraction: 0.6\n")
    (clone / "conf/local").mkdir(parents=True, exist_ok=True)
    (clone / "conf/local/parameters.yml").write_text("x: 1\n")  # ignored: still an edit
    (clone / "src/pkg/__pycache__").mkdir(parents=True, exist_ok=True)
    (clone / "src/pkg/__pycache__/m.cpython-311.pyc").write_bytes(b"\0")  # a run's output
    tracked = sorted(p.relative_to(clone).as_posix() for p in clone.rglob("*")
                     if p.is_file() and ".git" not in p.parts and "conf" not in p.parts
                     and "__pycache__" not in p.parts)
    (clone / tracked[0]).unlink()
    edits = folder_edits(clone)
    assert [(e["path"], e["change"]) for e in edits] == sorted([
        ("conf/base/parameters.yml", "modified"), ("conf/local/parameters.yml", "added"),
        (tracked[0], "removed")])
    assert {e["base"] for e in edits} == {commit}
    params = next(e for e in edits if e["path"] == "conf/base/parameters.yml")
    assert "+train_fraction: 0.6" in params["diff"].splitlines()
    assert describe_edits(edits, limit=1).endswith("(3 in all)")
    (clone / "conf/base/parameters.yml").write_text(
        (tmp_path / "project/conf/base/parameters.yml").read_text())
    assert "conf/base/parameters.yml" not in [e["path"] for e in folder_edits(clone)]
