"""The remote's location as git sees it (bricksmith.gitremote)."""

from bricksmith import gitremote


def test_remote_location_keeps_urls_and_resolves_paths(tmp_path):
    assert gitremote.remote_location("https://github.com/a/b.git", tmp_path) == (
        "https://github.com/a/b.git"
    )
    assert gitremote.remote_location("git@github.com:a/b.git", tmp_path) == "git@github.com:a/b.git"
    assert gitremote.remote_location("../r.git", tmp_path / "x") == str(tmp_path / "r.git")
    assert gitremote.local_remote_path("file:///srv/r.git").as_posix() == "/srv/r.git"
    assert gitremote.local_remote_path("https://h/r.git") is None
