"""The preflight: apply checks what the steps that will run need (tokens, the git remote, the
starter, data folders, the Databricks host, credentials and cluster) before anything changes,
reports every problem at once, and writes nothing; plan shows the same as warnings."""

from __future__ import annotations

import socket
from pathlib import Path

import git
import pytest

from bricksmith.emulator import DEFAULT_CLUSTER_ID, FaultPolicy
from tests.e2e.conftest import emulated_state_rows
from tests.e2e.conftest import tree as all_files
from tests.gitserver import GitServer
from tests.reliability.harness import seed_spec

pytestmark = pytest.mark.e2e

TOKEN_VAR = "BRICKSMITH_TEST_GIT_TOKEN"


def assert_refused(result, *needles):
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.out + result.err
    assert "found before changing anything:" in result.err, result.err
    assert "nothing was changed" in result.err
    for needle in needles:
        assert needle in result.err, result.err


def with_token_env(spec: Path, remote: str | None = None) -> Path:
    text = spec.read_text().replace("  branch: main", f"  branch: main\n  token_env: {TOKEN_VAR}")
    if remote is not None:
        text = text.replace("remote: iris-databricks.git", f"remote: {remote}")
    spec.write_text(text)
    return spec


def without_runs(spec: Path) -> Path:
    spec.write_text(spec.read_text().split("runs:")[0])  # no runs: keeps these applies quick
    return spec


def tree(folder: Path) -> dict[str, int]:
    """Every file with its size, but SQLite's shared-memory files (-shm, -wal): reading a
    state in WAL mode (plan, status, apply's checks) makes them; they hold no data."""
    return {path: size for path, size in all_files(folder).items()
            if not path.endswith(("-shm", "-wal"))}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once it is closed


def state_rows(spec: Path, root: str = ".bricksmith/local") -> dict:
    from bricksmith.engine.state import StateStore

    db = spec.parent / root / "state.db"
    if not db.exists():
        return {}
    store = StateStore(db)
    try:
        return {key: (r.status, r.finished_at, r.outputs) for key, r in store.all().items()}
    finally:
        store.close()


def test_a_missing_token_is_found_before_the_commit_the_push_and_the_upload(
        cli, seed, monkeypatch):
    """The issue's case: GITHUB_TOKEN unset was found at git.push, after a commit, an upload
    and a deploy. Now apply stops first, and changes nothing."""
    spec = without_runs(with_token_env(seed))
    monkeypatch.setenv(TOKEN_VAR, "any-token-a-local-remote-ignores")
    assert cli("apply", spec).code == 0
    remote = git.Repo(spec.parent / "iris-databricks.git")
    commits = len(list(remote.iter_commits("main")))
    rows = state_rows(spec)

    monkeypatch.delenv(TOKEN_VAR)
    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    (spec.parent / "iris-databricks/data/01_raw/extra.csv").write_text("a,b\n1,2\n")
    before = tree(spec.parent)
    result = cli("apply", spec)
    assert_refused(result, f"{spec}:", "repo.token_env: environment variable "
                   f"{TOKEN_VAR} is not set; git.push and workspace.repo need it",
                   f"export {TOKEN_VAR}=<a token")
    assert "✓" not in result.out  # no step ran
    assert tree(spec.parent) == before  # no parameters written, no state row, no upload
    assert state_rows(spec) == rows
    assert len(list(remote.iter_commits("main"))) == commits
    assert not (spec.parent / ".bricksmith/local/dbfs/FileStore/iris-databricks/data/01_raw"
                / "extra.csv").exists()

    plan = cli("plan", spec, "--json").json()
    assert any(TOKEN_VAR in w and w.startswith("apply would stop before changing anything")
               for w in plan["warnings"])
    text = cli("plan", spec).out
    assert "Warning: apply would stop before changing anything:" in text
    assert f"repo.token_env: environment variable {TOKEN_VAR} is not set" in text


def test_an_up_to_date_target_needs_no_token_for_a_local_remote(cli, seed, monkeypatch):
    spec = without_runs(with_token_env(seed))
    monkeypatch.setenv(TOKEN_VAR, "t")
    assert cli("apply", spec).code == 0
    monkeypatch.delenv(TOKEN_VAR)
    plan = cli("plan", spec, "--json", "--detailed-exitcode")
    assert plan.code == 0 and plan.json()["warnings"] == []
    again = cli("apply", spec)
    assert again.code == 0, again.err
    assert "0 step(s) ran" in again.out


def test_the_plan_memo_never_hides_a_token_unset_since(cli, seed, monkeypatch):
    spec = with_token_env(seed)
    monkeypatch.setenv(TOKEN_VAR, "t")
    assert cli("plan", spec, "--json").json()["warnings"] == []
    assert cli("plan", spec, "--json").json()["warnings"] == []  # replayed from the memo
    monkeypatch.delenv(TOKEN_VAR)
    warnings = cli("plan", spec, "--json").json()["warnings"]
    assert len(warnings) == 1 and f"{TOKEN_VAR} is not set" in warnings[0]
    monkeypatch.setenv(TOKEN_VAR, "t")
    assert cli("plan", spec, "--json").json()["warnings"] == []


def test_a_token_the_git_server_refuses_gets_a_credentials_hint(cli, seed, tmp_path,
                                                                 monkeypatch):
    with GitServer(tmp_path / "srv", token="right-token") as server:
        url = server.create_repo("iris.git")
        spec = with_token_env(seed, remote=url)
        monkeypatch.setenv(TOKEN_VAR, "wrong-token")
        before = tree(spec.parent)
        result = cli("apply", spec)
        assert_refused(result, "repo.remote: 127.0.0.1", "refused the credentials for",
                       f"${TOKEN_VAR} (repo.token_env) holds a valid token")
        assert "network" not in result.err
        assert tree(spec.parent) == before
        assert not server.saw_authorized("git-receive-pack")
        assert "wrong-token" not in result.out + result.err
    assert not list(spec.parent.glob(".bricksmith/local/state.db"))


@pytest.mark.parametrize("remote, said", [
    ("https://nonexistent.invalid/me/iris.git",
     "cannot reach nonexistent.invalid: DNS lookup failed"),
    ("http://127.0.0.1:{port}/iris.git", "cannot reach 127.0.0.1:{port}: the connection was "
     "refused"),
])
def test_an_unreachable_git_remote_is_named_with_a_network_hint(cli, seed, monkeypatch,
                                                                remote, said):
    port = closed_port()
    spec = with_token_env(seed, remote=remote.format(port=port))
    monkeypatch.setenv(TOKEN_VAR, "t")
    before = tree(spec.parent)
    result = cli("apply", spec)
    assert_refused(result, said.format(port=port), "your network")
    assert "credentials" not in result.err
    assert tree(spec.parent) == before


def test_a_remote_branch_the_project_lacks_is_refused_before_the_commit(cli, seed, tmp_path):
    spec = without_runs(seed)
    other = git.Repo.init(tmp_path / "other", initial_branch="main")
    (tmp_path / "other/README.md").write_text("someone else's work\n")
    other.index.add(["README.md"])
    other.index.commit("elsewhere")
    bare = spec.parent / "iris-databricks.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    other.git.push(str(bare), "main:main")
    head = git.Repo(bare).commit("main").hexsha
    before = tree(spec.parent)
    result = cli("apply", spec)
    assert_refused(result, f"branch main of {bare} is at {head[:10]}",
                   "git would refuse the push")
    assert tree(spec.parent) == before  # the project was not even created
    assert git.Repo(bare).commit("main").hexsha == head


def test_the_plan_memo_notices_the_remote_branch_moving_since(cli, seed, tmp_path):
    spec = without_runs(seed)
    assert cli("apply", spec).code == 0
    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    assert cli("plan", spec, "--json").json()["warnings"] == []
    assert cli("plan", spec, "--json").json()["warnings"] == []  # replayed from the memo
    bare = spec.parent / "iris-databricks.git"
    clone = git.Repo.clone_from(str(bare), tmp_path / "elsewhere")
    (tmp_path / "elsewhere/NOTES.md").write_text("pushed by someone else\n")
    clone.index.add(["NOTES.md"])
    clone.index.commit("elsewhere")
    clone.git.push("origin", "main")
    warnings = cli("plan", spec, "--json").json()["warnings"]
    assert len(warnings) == 1 and "git would refuse the push" in warnings[0]
    assert_refused(cli("apply", spec), "git would refuse the push", "pull --ff-only")
    assert git.Repo(bare).commit("main").hexsha == clone.head.commit.hexsha


# -- Databricks targets (the emulator) ------------------------------------------------------


@pytest.fixture
def databricks_spec(seed, emulator, monkeypatch) -> Path:
    spec = seed_spec(seed.parent, emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    return spec


def test_a_missing_cluster_is_found_before_anything_changes(cli, databricks_spec, emulator):
    spec = databricks_spec
    spec.write_text(spec.read_text().replace(DEFAULT_CLUSTER_ID, "0000-000000-nocluster"))
    before = tree(spec.parent)
    result = cli("apply", spec)
    assert_refused(result, "target emulated: cluster 0000-000000-nocluster does not exist in "
                   f"the Databricks workspace {emulator.url}", "set cluster_id")
    assert tree(spec.parent) == before
    assert emulated_state_rows(spec) == {}
    assert not any(key.startswith(("POST /api/2.0/repos", "POST /api/2.0/dbfs",
                                   "POST /api/2.0/workspace/import"))
                   for key in emulator.calls)


def test_wrong_credentials_get_a_credentials_hint_not_a_network_one(
        cli, databricks_spec, emulator, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", "not-the-token")
    before = tree(databricks_spec.parent)
    result = cli("apply", databricks_spec)
    assert_refused(result, "target emulated:", "DATABRICKS_TOKEN")
    assert "rejected" in result.err and "network" not in result.err
    assert "not-the-token" not in result.out + result.err
    assert tree(databricks_spec.parent) == before


def test_a_throttling_workspace_is_named_as_throttling(cli, databricks_spec, emulator,
                                                       monkeypatch):
    from bricksmith.backends import databricks

    monkeypatch.setattr(databricks, "PREFLIGHT_RETRY_S", 1)
    emulator.set_faults(FaultPolicy(rate=1.0, kinds=("429",), retry_after_s=0))
    result = cli("apply", databricks_spec)
    assert_refused(result, "429 TOO_MANY_REQUESTS", "rate-limiting")
    assert "network" not in result.err
    assert emulated_state_rows(databricks_spec) == {}


@pytest.mark.parametrize("host, said", [
    ("https://nonexistent.invalid", "DNS lookup failed (the host name nonexistent.invalid "
     "does not resolve)"),
    ("http://127.0.0.1:{port}", "the connection to port {port} failed"),
])
def test_a_wrong_host_fails_fast_naming_it_with_a_network_hint(cli, seed, monkeypatch, host,
                                                               said, tmp_path):
    port = closed_port()
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("DATABRICKS_TOKEN", "t")
    spec = seed_spec(seed.parent, host.format(port=port))
    before = tree(spec.parent)
    result = cli("apply", spec)
    assert_refused(result, f"cannot reach the Databricks workspace {host.format(port=port)}: "
                   f"{said.format(port=port)}", "your network")
    assert "credentials" not in result.err
    assert tree(spec.parent) == before


def test_a_host_that_speaks_no_tls_is_named_at_once_not_after_the_sdks_retries(
        cli, seed, emulator, monkeypatch):
    """https:// on a server that answers plain HTTP: the SDK retried the TLS error for its
    whole budget (35 s measured) and called it "did not answer"."""
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    host = emulator.url.replace("http://", "https://")
    spec = seed_spec(seed.parent, host)
    result = cli("apply", spec)
    assert_refused(result, f"cannot reach the Databricks workspace {host}: the TLS (https) "
                   "handshake failed", "your network")
    assert emulated_state_rows(spec) == {}
    assert not emulator.calls  # the SDK never sent a request


def test_every_problem_is_reported_together(cli, seed, monkeypatch, tmp_path):
    """A wrong host, an unset token and a missing data folder: one apply names all three."""
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("DATABRICKS_TOKEN", "t")
    monkeypatch.delenv(TOKEN_VAR, raising=False)
    spec = with_token_env(seed_spec(seed.parent, "https://nonexistent.invalid"))
    spec.write_text(spec.read_text().replace("  - source: data ", "  - source: dat "))
    project = spec.parent / "iris-databricks"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.kedro]\npackage_name = 'x'\n")
    (project / "conf/base").mkdir(parents=True)
    (project / "conf/local").mkdir()
    (project / "conf/base/parameters.yml").write_text("train_fraction: 0.8\n")
    before = tree(spec.parent)
    result = cli("apply", spec)
    assert_refused(result, "3 problems found before changing anything",
                   f"{TOKEN_VAR} is not set",
                   "data[0].source: data source 'dat' does not exist in the project",
                   "cannot reach the Databricks workspace https://nonexistent.invalid")
    assert tree(spec.parent) == before

    assert cli("plan", spec).code == 1  # plan refuses a missing data folder at its key
    spec.write_text(spec.read_text().replace("  - source: dat ", "  - source: data "))
    (project / "data").mkdir()
    plan = cli("plan", spec)  # it cannot ask the workspace: it says so, with the rest
    assert_refused(plan, "2 problems found before changing anything", f"{TOKEN_VAR} is not set",
                   "cannot reach the Databricks workspace https://nonexistent.invalid")
