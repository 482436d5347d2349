"""Bad input gets a clear error, exit 1, no traceback, and changes nothing — or, when it is
found mid-apply, the failure is recorded and the next apply resumes there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import git

from bricksmith.engine.state import StateStore
from tests.e2e.conftest import tree


def assert_clean_error(result, *needles):
    assert result.code == 1
    assert "Traceback" not in result.out + result.err
    for needle in needles:
        assert needle in result.err, result.err


def test_malformed_spec_reports_every_problem_and_writes_nothing(cli, seed):
    seed.write_text(
        seed.read_text()
        .replace("version: 1", "version: 2")
        .replace("  branch: main", "  brnach: main")
        .replace("starter: databricks-iris", "starter: databricks-irsi")
    )
    before = tree(seed.parent)
    for command in ("validate", "plan", "apply", "status"):
        result = cli(command, seed)
        assert_clean_error(
            result,
            "3 problems in the workflow spec",
            f"{seed}:7:10: version: unsupported spec version 2",
            "repo.brnach: unknown key 'brnach'",
            "did you mean 'branch'?",
            "unknown starter 'databricks-irsi'",
        )
    assert tree(seed.parent) == before


def test_yaml_syntax_error_names_line_and_column(cli, seed):
    seed.write_text("version: 1\nname: [iris\n")
    result = cli("apply", seed)
    assert_clean_error(result, f"{seed}:3:1: invalid YAML")
    assert tree(seed.parent) == {"iris.yaml": seed.stat().st_size}


def test_unset_env_var_and_var_overrides(cli, seed, monkeypatch):
    seed.write_text(seed.read_text().replace("branch: main", "branch: ${env.IRIS_BRANCH}"))
    monkeypatch.delenv("IRIS_BRANCH", raising=False)
    assert_clean_error(cli("plan", seed), "environment variable IRIS_BRANCH is not set")
    monkeypatch.setenv("IRIS_BRANCH", "main")
    assert cli("validate", seed).code == 0

    seed.write_text(seed.read_text().replace("${env.IRIS_BRANCH}", "${var.branch}"))
    assert_clean_error(cli("validate", seed), "branch")
    ok = cli("validate", seed, "--var", "branch=main")
    assert ok.code == 0 and "valid" in ok.out
    assert_clean_error(cli("plan", seed, "--var", "oops"), "--var 'oops' is not NAME=VALUE")
    assert_clean_error(cli("plan", seed, "--var", "branch=main", "--target", "prod"),
                       "unknown target 'prod'")
    assert tree(seed.parent) == {"iris.yaml": seed.stat().st_size}


def test_a_run_param_from_the_environment_is_refused_and_never_stored(cli, seed, monkeypatch):
    """Case adversarial/secret_env_run_param_stored.sh: run params become Databricks job
    parameters and bricksmith's records; a value from ${env.*} is refused, not stored."""
    secret = "s3cr3t-value-4711"
    monkeypatch.setenv("RUN_SECRET", secret)
    seed.write_text(seed.read_text().replace(
        "    params: {train_fraction: 0.7}",
        "    params: {train_fraction: 0.7, api_key: '${env.RUN_SECRET}'}",
    ))
    before = tree(seed.parent)
    line = seed.read_text().splitlines().index(
        next(x for x in seed.read_text().splitlines() if "api_key" in x)) + 1
    for command in ("validate", "plan", "apply", "status", "runs"):
        result = cli(command, seed)
        assert_clean_error(
            result,
            f"{seed}:{line}:",
            "runs[1].params.api_key: a parameter may not take its value from the environment",
            "dbutils.secrets.get",
        )
        assert secret not in result.out + result.err
    assert tree(seed.parent) == before


def test_missing_data_source_fails_its_step_and_the_next_apply_resumes(cli, seed):
    seed.write_text(seed.read_text().replace("source: data", "source: dta"))
    failed = cli("apply", seed)
    assert_clean_error(
        failed,
        "step data.upload[0] failed: data source 'dta' does not exist in the project",
        "fix data[].source",
        "resumes at data.upload[0]",
    )
    state = StateStore(seed.parent / ".bricksmith/local/state.db").all()
    assert state["data.upload[0]"].status == "failed"
    assert "run.baseline" not in state  # never started
    # the project exists now: plan names the key before anything else runs
    assert_clean_error(cli("plan", seed), "data[0].source: data source 'dta' does not exist")

    seed.write_text(seed.read_text().replace("source: dta", "source: data"))
    resumed = cli("apply", seed)
    assert resumed.code == 0, resumed.err
    assert "= project.scaffold up to date" in resumed.out
    assert "✓ data.upload[0]" in resumed.out and "✓ run.split-70" in resumed.out


def test_a_remote_that_refuses_the_push_then_accepts_it(cli, seed):
    remote = seed.parent / "iris-databricks.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: pushes need review' >&2\nexit 1\n")
    hook.chmod(0o755)
    seed.write_text(seed.read_text().split("runs:")[0])  # no runs: keep this test quick

    failed = cli("apply", seed)
    assert_clean_error(failed, "step git.push failed", "protected branch: pushes need review",
                       "accepts pushes")
    assert not git.Repo(remote).heads
    hook.unlink()
    assert cli("apply", seed).code == 0
    assert len(list(git.Repo(remote).iter_commits("main"))) == 1
    assert cli("plan", seed, "--detailed-exitcode").code == 0


def test_a_run_that_fails_inside_kedro_shows_its_log_and_resumes(cli, seed):
    seed.write_text(
        seed.read_text().replace(
            "params: {train_fraction: 0.7}", "params: {train_fraction: 0.7, target_column: nope}"
        )
    )
    failed = cli("apply", seed)
    assert_clean_error(failed, "step run.split-70 failed", "last lines of its log", "nope")
    log = seed.parent / ".bricksmith/local/logs/runs/split-70.log"
    assert "nope" in log.read_text()
    status = cli("status", seed, "--json").json()
    runs = {r["name"]: r for r in status["runs"]}
    assert runs["baseline"]["status"] == "succeeded"
    assert runs["split-70"]["status"] == "failed"
    assert Path(runs["split-70"]["log"]).resolve() == log.resolve()  # the latest execution's
    assert runs["split-70"]["metrics"] is None

    seed.write_text(seed.read_text().replace(", target_column: nope", ""))
    plan = {a["step"]: a for a in cli("plan", seed, "--json").json()["actions"]}
    assert plan["run.split-70"]["action"] == "resume"
    assert [k for k, a in plan.items() if a["action"] != "noop"] == ["run.split-70"]
    fixed = cli("apply", seed)
    assert fixed.code == 0 and "✓ run.split-70" in fixed.out and "= run.baseline" in fixed.out
    runs = {r["name"]: r for r in cli("status", seed, "--json").json()["runs"]}
    assert runs["split-70"]["metrics"]["n_train"] == 105


def test_a_second_apply_fails_at_once_naming_the_holder(cli, seed):
    root = seed.parent / ".bricksmith/local"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from bricksmith.engine.lock import TargetLock
            lock = TargetLock(Path({str(root)!r}), "local")
            lock.acquire()
            print("locked", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = cli("apply", seed)
        assert_clean_error(result, "target 'local' is locked", f"pid {holder.pid}")
        assert not (seed.parent / "iris-databricks").exists()
        assert cli("plan", seed).code == 0  # reading never needs the lock
    finally:
        holder.communicate("\n", timeout=10)


def test_a_credential_in_the_remote_url_is_refused_and_never_shown(cli, seed, monkeypatch):
    token = "ghp_badinput0123456789abcdefghijklmnopqr"
    monkeypatch.setenv("GH_TOKEN", token)
    original = seed.read_text()
    for remote, line in (
        (f"https://{token}@github.com/me/iris.git", 17),
        (f"https://me:{token}@github.com/me/iris.git", 17),
        ("https://${env.GH_TOKEN}@github.com/me/iris.git", 17),
        ("http://x-access-token:${env.GH_TOKEN}@127.0.0.1:9/me/iris.git", 17),
    ):
        seed.write_text(original.replace("  remote: iris-databricks.git ", f"  remote: {remote} "))
        before = tree(seed.parent)
        for command in ("validate", "plan", "apply"):
            result = cli(command, seed)
            assert_clean_error(result, f"{seed}:{line}:11: repo.remote:", "repo.token_env")
            assert token not in result.out + result.err
        assert tree(seed.parent) == before
    cache = Path(os.environ["BRICKSMITH_CACHE_DIR"]) / "specs"
    assert not [p for p in cache.glob("*.json") if token in p.read_text()]


def _heads(folder):
    project, remote = folder / "iris-databricks", folder / "iris-databricks.git"
    return git.Repo(project).head.commit.hexsha, git.Repo(remote).heads.main.commit.hexsha


def test_unknown_param_names_and_a_broken_project_are_refused_before_anything(cli, seed):
    assert cli("apply", seed).code == 0
    folder = seed.parent
    good = seed.read_text()
    heads = _heads(folder)

    seed.write_text(good.replace("    train_fraction: 0.8", "    train_fractoin: 0.8")
                    .replace("params: {train_fraction: 0.7}", "params: {random_stat: 4}"))
    before = tree(folder)
    for command in ("plan", "apply"):
        result = cli(command, seed)
        assert_clean_error(
            result, "2 problems in the workflow spec",
            f"{seed}:14:5: project.params.train_fractoin: the project defines no parameter "
            "train_fractoin",
            "did you mean train_fraction?",
            f"{seed}:33:14: runs[1].params.random_stat",
            "did you mean random_state?",
            "allow_new_params: true on run split-70",
        )
    assert tree(folder) == before and _heads(folder) == heads

    # the project itself broken: a key defined in two files of the base environment
    seed.write_text(good)
    extra = folder / "iris-databricks/conf/base/parameters_extra.yml"
    extra.write_text("train_fraction: 0.5\n")
    before = tree(folder)
    for command in ("plan", "apply"):
        assert_clean_error(cli(command, seed), "Kedro cannot load the parameters",
                           "Duplicate keys", "parameters_extra.yml", "conf/base/parameters.yml")
    assert tree(folder) == before and _heads(folder) == heads
    assert "parameters_extra.yml" not in git.Repo(folder / "iris-databricks").git.ls_files()


def test_unknown_param_name_in_a_new_project_fails_before_the_commit(cli, seed):
    seed.write_text(seed.read_text().replace("    train_fraction: 0.8", "    train_fractoin: 0.8"))
    assert cli("plan", seed).code == 0  # no project yet: the params step checks
    failed = cli("apply", seed)
    assert_clean_error(failed, "step project.params failed",
                       f"{seed}:14:5: project.params.train_fractoin",
                       "did you mean train_fraction?")
    project = seed.parent / "iris-databricks"
    assert "train_fractoin" not in (project / "conf/base/parameters.yml").read_text()
    assert not (seed.parent / "iris-databricks.git").exists()  # never pushed
    assert not (project / ".git").exists() or not git.Repo(project).heads  # never committed


def _with_databricks_target(seed: Path, settings: str) -> None:
    seed.write_text(seed.read_text().replace(
        "targets:\n", f"targets:\n  cloud:\n    backend: databricks\n{settings}", 1))


def test_a_databricks_target_without_compute_is_refused_and_writes_nothing(cli, seed):
    _with_databricks_target(seed, "    host: https://adb-1.2.azuredatabricks.net\n")
    before = tree(seed.parent)
    for command in ("validate", "plan", "apply"):
        result = cli(command, seed, "--target", "cloud")
        assert_clean_error(result, "targets.cloud: databricks target 'cloud' has no cluster_id",
                           "serverless: true")
    assert tree(seed.parent) == before


def test_a_serverless_target_refuses_dbfs_data_and_writes_nothing(cli, seed):
    _with_databricks_target(seed, "    serverless: true\n")
    before = tree(seed.parent)
    result = cli("apply", seed, "--target", "cloud")
    assert_clean_error(result, "data[0].target: target 'dbfs:/FileStore/iris-databricks/data': "
                       "serverless target 'cloud' has only limited DBFS access",
                       "/Volumes/<catalog>/<schema>/<volume>/data")
    assert tree(seed.parent) == before
    seed.write_text(seed.read_text().replace("target: dbfs:/FileStore/iris-databricks/data",
                                             "target: /Volumes/main/default/iris/data"))
    assert cli("validate", seed).code == 0  # a volume is what serverless reads

    seed.write_text(seed.read_text().replace("    serverless: true\n",
                                             "    serverless: true\n    cluster_id: c-1\n"))
    assert_clean_error(cli("validate", seed), "sets both cluster_id and serverless: true")


def test_a_data_folder_missing_from_an_existing_project_is_refused_at_its_key(cli, seed):
    """Found by a fresh user: `source: dat` passed plan and failed at data.upload after three
    steps had run, with no file:line."""
    assert cli("apply", seed).code == 0
    seed.write_text(seed.read_text().replace("  - source: data ", "  - source: dat "))
    before = tree(seed.parent)
    for command in ("plan", "apply"):
        result = cli(command, seed)
        assert_clean_error(result, f"{seed}:27:13: data[0].source: data source 'dat' does "
                           "not exist in the project", "relative to it")
    assert tree(seed.parent) == before
