"""Secrets: a git token given through ``repo.token_env`` reaches git through the askpass
helper only, and is never written anywhere (state, logs, output, ``.git/config``, notebook, run
logs), on a whole apply against a loopback smart-HTTP git server that requires it."""

from __future__ import annotations

import base64
import os
import re
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import git
import pytest

from tests.gitserver import GitServer

VAR = "BRICKSMITH_E2E_GIT_TOKEN"
SECRET = f"ghp_bricksmith_e2e_secret_{uuid.uuid4().hex}"
WRONG = f"ghp_bricksmith_e2e_wrong_{uuid.uuid4().hex}"
REPO = ".bricksmith/local/Workspace/Repos/local-user/iris-databricks"


@pytest.fixture
def server(tmp_path):
    with GitServer(tmp_path / "git-server", token=SECRET) as running:
        yield running


@pytest.fixture(autouse=True)
def git_config(tmp_path, monkeypatch) -> Path:
    """A user git config with ``credential.helper=store`` writing under tmp_path: were git to
    store the token, the scan of tmp_path would find it."""
    config = tmp_path / "gitconfig"
    config.write_text(f"[credential]\n\thelper = store --file '{tmp_path / 'git-credentials'}'\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("BRICKSMITH_GIT_USERNAME", raising=False)
    monkeypatch.setenv(VAR, SECRET)
    return config


def http_spec(seed: Path, url: str, *, runs: bool = True) -> Path:
    """The seed spec with its remote on the server and ``token_env`` set."""
    text, count = re.subn(
        r"(?m)^  remote: .*$", f"  remote: {url}\n  token_env: {VAR}", seed.read_text()
    )
    assert count == 1
    if not runs:
        text = text[: text.index("\nruns:")] + "\n"
    seed.write_text(text)
    return seed


def leaks(data: bytes) -> list[str]:
    """Which form of a token ``data`` holds: raw, or inside a basic-auth header."""
    found = []
    for token in (SECRET, WRONG):
        forms = [token.encode()] + [
            base64.b64encode(f"{user}:{token}".encode()) for user in ("x-access-token", "git")
        ]
        found += [form.decode() for form in forms if form in data]
    return found


def assert_no_secret_anywhere(folder: Path, outputs: list[str]) -> int:
    """Scan every file under ``folder`` (bytes: state.db and its WAL too) and every output."""
    scanned = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            assert not leaks(path.read_bytes()), f"a token is in {path}"
            scanned += 1
    for number, text in enumerate(outputs):
        assert not leaks(text.encode()), f"a token is in output #{number}: {text[:200]!r}"
    return scanned


@contextmanager
def watching_command_lines():
    """Scan ``/proc/*/cmdline`` of every other process, over and over, while the block runs;
    yields the list of (pid, command line) found holding a token, and how many scans ran."""
    found: list[tuple[str, str]] = []
    scans = [0]
    stop = threading.Event()
    me = str(os.getpid())

    def watch():
        while not stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit() or entry.name == me:
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                        line = handle.read()
                except OSError:
                    continue
                if leaks(line):
                    found.append((entry.name, line.replace(b"\0", b" ").decode(errors="replace")))
            scans[0] += 1

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield found, scans
    finally:
        stop.set()
        thread.join()


def assert_bare_remote_url(repo: Path, url: str) -> None:
    config = (repo / ".git" / "config").read_text()
    assert git.Repo(repo).remotes.origin.url == url
    assert "@" not in config and "credential" not in config and "token" not in config.lower()


def test_a_token_from_the_environment_is_used_and_never_written(cli, seed, server, git_config):
    url = server.create_repo("iris-databricks.git")
    spec = http_spec(seed, url)
    folder = spec.parent
    outputs = []

    def run(*args):
        result = cli(*args)
        outputs.extend([result.out, result.err])
        return result

    with watching_command_lines() as (found, scans):
        first = run("apply", spec, "-v")
    assert first.code == 0, first.out + first.err
    assert scans[0] > 0 and found == []  # git, the askpass helper, kernels, uv: no token
    assert "0.933" in first.out

    # The token was really needed and used, and it came from the askpass helper: git asked
    # anonymously, got the 401 challenge, then sent the helper's user name and the token.
    seen = server.seen()
    assert (seen[0].auth_present, seen[0].status) == (False, 401)
    assert server.saw_authorized("git-receive-pack")  # git.push
    assert server.saw_authorized("git-upload-pack")  # ls-remote, the workspace clone
    assert {r.user for r in seen if r.auth_present} == {"x-access-token"}
    assert all(r.authorized for r in seen if r.auth_present)

    remote = git.Repo(server.root / "iris-databricks.git")
    clone = folder / REPO
    assert git.Repo(clone).head.commit.hexsha == remote.commit("main").hexsha

    assert run("plan", spec, "--detailed-exitcode").code == 0
    status = run("status", spec, "--json")
    assert status.code == 0 and status.json()["runs"]
    assert run("graph", spec).code == 0

    spec.write_text(spec.read_text().replace("train_fraction: 0.8", "train_fraction: 0.7"))
    plan = run("plan", spec)
    assert plan.code == 0 and "params.train_fraction: 0.8 → 0.7" in plan.out
    server.clear()
    with watching_command_lines() as (found, scans):
        again = run("apply", spec, "-v")
    assert scans[0] > 0 and found == []
    assert again.code == 0, again.out + again.err
    assert server.saw_authorized("git-receive-pack")
    assert len(list(remote.iter_commits("main"))) == 2
    assert git.Repo(clone).head.commit.hexsha == remote.commit("main").hexsha
    assert run("plan", spec, "--detailed-exitcode").code == 0
    outputs.append(run("status", spec, "--json").out)
    outputs.append(run("validate", spec).out)

    assert_bare_remote_url(spec.parent / "iris-databricks", url)
    assert_bare_remote_url(clone, url)
    assert not (folder / "git-credentials").exists()
    root = folder / ".bricksmith/local"
    for expected in (
        "state.db",
        "logs/runs/baseline.log",
        "logs/runs/split-70.log",
        "Workspace/Users/local-user/.bricksmith/iris-databricks/run.py",
    ):
        assert (root / expected).is_file(), expected
    assert assert_no_secret_anywhere(folder, outputs) > 100  # spec folder, root, remote
    cache = Path(os.environ["BRICKSMITH_CACHE_DIR"])
    for part in ("specs", "plans"):  # the spec cache and the plan memos
        assert_no_secret_anywhere(cache / part, [])
    for repo in (remote, git.Repo(clone), git.Repo(folder / "iris-databricks")):
        # git objects are compressed: the history is read through git
        history = repo.git.log("--all", "-p", "--format=%H %an <%ae>%n%B")
        assert "train_fraction" in history and not leaks(history.encode())
    assert not leaks(repr(server.seen()).encode())


def test_a_wrong_token_fails_the_preflight_clearly_and_a_right_one_applies(
    cli, seed, server, monkeypatch
):
    url = server.create_repo("iris-databricks.git")
    spec = http_spec(seed, url, runs=False)
    monkeypatch.setenv(VAR, WRONG)

    failed = cli("apply", spec)
    assert failed.code == 1
    text = failed.out + failed.err
    # found by the preflight's ls-remote, before the project is even created
    assert "refused the credentials for" in text and "nothing was changed" in text
    assert f"${VAR} (repo.token_env)" in text
    assert not (seed.parent / "iris-databricks").exists()  # the project was not created
    assert any(r.auth_present and r.status == 401 for r in server.seen())
    assert not any(r.authorized for r in server.seen())
    status = cli("status", spec, "--json")
    plan = cli("plan", spec)
    assert plan.code == 0 and "git.push" in plan.out

    monkeypatch.setenv(VAR, SECRET)
    resumed = cli("apply", spec)
    assert resumed.code == 0, resumed.out + resumed.err
    assert server.saw_authorized("git-receive-pack")
    assert (seed.parent / REPO / "conf/base/parameters.yml").is_file()
    outputs = [failed.out, failed.err, status.out, status.err, plan.out, resumed.out, resumed.err]
    assert_no_secret_anywhere(seed.parent, outputs)


def test_an_unset_token_variable_is_a_clear_error(cli, seed, server, monkeypatch):
    url = server.create_repo("iris-databricks.git")
    spec = http_spec(seed, url, runs=False)
    monkeypatch.delenv(VAR)

    failed = cli("apply", spec)
    assert failed.code == 1
    text = failed.out + failed.err
    assert f"repo.token_env: environment variable {VAR} is not set" in text
    assert f"export {VAR}=<a token with access to {url}>" in text
    assert not server.seen()  # found before any step: the server was never asked
    assert not (seed.parent / "iris-databricks").exists()  # the project was not created
    assert_no_secret_anywhere(seed.parent, [failed.out, failed.err])


def test_the_command_line_watcher_sees_a_token_on_a_command_line():
    import subprocess

    with watching_command_lines() as (found, scans):
        subprocess.run(["sh", "-c", "sleep 0.3", SECRET], check=True)
    assert scans[0] > 0 and any(SECRET in line for _pid, line in found)
