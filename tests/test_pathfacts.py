import os

from bricksmith.pathfacts import PathFacts, is_racy, path_kind


def test_path_kind_and_the_facts_kept(tmp_path):
    (tmp_path / "f").write_text("x")
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    facts = PathFacts()
    assert [facts.kind(tmp_path / name) for name in ("f", "nothing", "dangling")] == [
        "file", "missing", "missing"]
    assert facts.kind(tmp_path) == "dir" and path_kind("/dev/null") == "other"
    assert facts.seen[str(tmp_path / "f")] == "file" and len(facts.seen) == 4


def test_seconds_only_mtimes_need_two_seconds_to_be_trusted():
    now = 1_700_000_000_123_456_789
    assert is_racy(1_700_000_000_000_000_000, now)  # whole second, 0.12 s before
    assert not is_racy(1_699_999_997_000_000_000, now)
    assert is_racy(now - 5_000_000, now)  # sub-second stamp, 5 ms before
    assert not is_racy(now - 50_000_000, now)
