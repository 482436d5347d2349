"""A damaged state is detected, the previous good copy restores it, and the next apply
converges without repeating side effects."""

from __future__ import annotations

import git


def test_truncated_state_is_refused_then_restored_and_converges(cli, seed):
    seed.write_text(seed.read_text().split("runs:")[0])  # no runs: this is about the state
    assert cli("apply", seed).code == 0
    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    assert cli("apply", seed).code == 0  # its start saved state.db.bak
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
    # The copy predates the second apply: plan sees the params change again ...
    plan = {a["step"]: a for a in cli("plan", seed, "--json").json()["actions"]}
    assert plan["project.params"]["action"] == "update"
    assert cli("apply", seed).code == 0
    # ... and applying it again makes no second commit: the tree is already committed.
    remote = git.Repo(seed.parent / "iris-databricks.git")
    assert len(list(remote.iter_commits("main"))) == 2
    assert cli("plan", seed, "--detailed-exitcode").code == 0


def test_state_unlock_through_the_cli(cli, seed):
    result = cli("state", "unlock", seed)
    assert result.code == 0 and "is not locked" in result.out
