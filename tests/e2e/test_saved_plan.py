"""`plan --out FILE` then `apply FILE`: exactly the reviewed plan, or nothing when stale."""

from __future__ import annotations

from bricksmith.engine.state import StateStore


def attempts(folder):
    records = StateStore(folder / ".bricksmith/local/state.db").all()
    return {key: record.attempt for key, record in records.items()}


def test_apply_of_a_saved_plan_runs_what_it_shows_and_refuses_it_once_stale(cli, seed):
    folder = seed.parent
    saved = folder / "first.plan.json"
    made = cli("plan", seed, "--out", saved)
    assert made.code == 0 and "9 to create" in made.out and saved.exists()
    assert cli("apply", saved).code == 0
    assert set(attempts(folder)) >= {"project.scaffold", "run.baseline", "run.split-70"}

    # the same file again: the state moved since (it was applied)
    before = attempts(folder)
    stale = cli("apply", saved)
    assert stale.code == 1 and "stale plan: the state of target 'local' changed" in stale.err
    assert attempts(folder) == before

    # a reviewed change is applied exactly: the params step and what follows it
    seed.write_text(seed.read_text().replace("train_fraction: 0.8", "train_fraction: 0.75"))
    second = folder / "second.plan.json"
    assert cli("plan", seed, "--out", second).code == 0
    # ... but not once the spec changed again after the review
    seed.write_text(seed.read_text().replace("train_fraction: 0.75", "train_fraction: 0.6"))
    edited = cli("apply", second)
    assert edited.code == 1 and "changed since the plan was saved" in edited.err
    assert attempts(folder) == before
    seed.write_text(seed.read_text().replace("train_fraction: 0.6", "train_fraction: 0.75"))

    # nor once something drifted that the review did not see
    uploaded = folder / ".bricksmith/local/dbfs/FileStore/iris-databricks/data/01_raw/iris.csv"
    uploaded.write_text("tampered\n")
    drifted = cli("apply", second)
    assert drifted.code == 1 and "data.upload[0]: planned noop, now update" in drifted.err
    assert attempts(folder) == before

    assert cli("apply", seed).code == 0  # repairs the drift (and applies 0.75)
    third = folder / "third.plan.json"
    seed.write_text(seed.read_text().replace("train_fraction: 0.75", "train_fraction: 0.7"))
    assert cli("plan", seed, "--out", third).code == 0
    before = attempts(folder)
    applied = cli("apply", third)
    assert applied.code == 0, applied.err
    after = attempts(folder)
    ran = {k for k in after if after[k] != before.get(k)}
    assert ran == {"project.params", "git.commit", "git.push", "workspace.repo", "run.baseline",
                   "run.split-70"}


def test_a_saved_plan_keeps_its_target_and_vars(cli, seed):
    saved = seed.parent / "p.json"
    assert cli("plan", seed, "--out", saved).code == 0
    refused = cli("apply", saved, "--target", "local")
    assert refused.code == 1 and "keeps the target and --var values" in refused.err
    assert cli("plan", seed, "--out", saved, "--no-refresh").code == 1
