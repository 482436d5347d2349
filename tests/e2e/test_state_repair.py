"""A damaged state is detected, the previous good copy restores it, and the next apply
converges without repeating side effects."""

from __future__ import annotations

import git


def test_truncated_state_is_refused_then_restored_and_converges(cli, seed):
    seed.write_text(seed.read_text().split("runs:")[0])  # no runs: this is about the state
    assert cli("apply", seed).code == 0
    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    assert cli("apply", seed).code == 0  # its end saved state.db.bak
    state = seed.parent / ".bricksmith/local/state.db"
    assert (seed.parent / ".bricksmith/local/state.db.bak").exists()
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 3])

    for command in ("plan", "status", "apply"):
        result = cli(command, seed)
        assert result.code == 1 and "Traceback" not in result.err
        assert "is damaged" in result.err and "bricksmith state restore" in result.err

    restored = cli("state", "restore", seed)
    assert restored.code == 0 and "restored" in restored.out
    # The copy is the state the second apply left: the replaced file could not be read,
    # so the restore says what it cannot know; nothing is left to do.
    assert "taken at the end of apply 2 (succeeded)" in restored.out
    assert "could not be read" in restored.out
    assert cli("plan", seed, "--detailed-exitcode").code == 0
    remote = git.Repo(seed.parent / "iris-databricks.git")
    assert len(list(remote.iter_commits("main"))) == 2


def test_restoring_the_copy_of_a_killed_apply_lists_what_the_next_apply_repeats(cli, seed):
    """An apply killed before its end leaves the copy taken at its start: restoring it says
    which steps the copy does not know as done, and the next apply does exactly those."""
    seed.write_text(seed.read_text().split("runs:")[0])
    assert cli("apply", seed).code == 0
    backup = seed.parent / ".bricksmith/local/state.db.bak"
    at_start = backup.read_bytes()  # the state as the next apply finds it
    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    assert cli("apply", seed).code == 0
    backup.write_bytes(at_start)  # as if that apply had been killed before its end

    restored = cli("state", "restore", seed)
    assert restored.code == 0
    listed = [line.split(":")[0].strip() for line in restored.out.splitlines()
              if line.startswith("  ")]
    assert listed == ["git.commit", "git.push", "project.params", "workspace.repo"]
    plan = {a["step"]: a["action"] for a in cli("plan", seed, "--json").json()["actions"]}
    assert sorted(k for k, v in plan.items() if v != "noop") == listed
    assert cli("apply", seed).code == 0
    remote = git.Repo(seed.parent / "iris-databricks.git")
    assert len(list(remote.iter_commits("main"))) == 2  # the tree was committed already


def test_state_unlock_through_the_cli(cli, seed):
    result = cli("state", "unlock", seed)
    assert result.code == 0 and "is not locked" in result.out
