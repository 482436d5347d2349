"""Unit tests of the git safety rules: commits only on the checked-out branch, fast-forward
pushes, bricksmith's own paths excluded, commit messages that say what changed, and the
workspace Git folder held exactly at the pushed commit."""

import subprocess
from pathlib import Path

import git
import pytest

from bricksmith.backends import git as gitops
from bricksmith.backends.commit_message import is_parameters_file
from bricksmith.backends.git_folder import folder_drift, foreign_files, sync_clone
from bricksmith.errors import GitError

ME = gitops.Identity("Test", "test@example.com")


def project_with_params(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "conf/base").mkdir(parents=True)
    (project / "conf/base/parameters.yml").write_text(
        "# the model\ntrain_fraction: 0.8\nmodel:\n  depth: 3\n  name: tree\n")
    (project / ".gitignore").write_text("conf/local/**\ndata/\n")
    return project


def commit_as_user(repo: git.Repo, name: str, message: str) -> str:
    (Path(repo.working_tree_dir) / name).write_text(message)
    repo.index.add([name])
    return repo.index.commit(message).hexsha


def test_the_commit_message_lists_files_and_changed_parameter_keys(tmp_path):
    project = project_with_params(tmp_path)
    gitops.commit_all(project, branch="main", identity=ME, first_message="create")
    params = project / "conf/base/parameters.yml"
    params.write_text(params.read_text().replace("0.8", "0.7").replace("depth: 3", "depth: 5")
                      + "seed: 42\n")
    (project / "README.md").write_text("hello\n")
    commit, made = gitops.commit_all(project, branch="main", identity=ME)
    assert made
    message = git.Repo(project).commit(commit).message
    assert message == (
        "Update README.md, conf/base/parameters.yml (bricksmith)\n\n"
        "README.md (added)\n"
        "conf/base/parameters.yml (modified):\n"
        "  model.depth: 3 → 5\n"
        "  seed: (none) → 42\n"
        "  train_fraction: 0.8 → 0.7\n"
    )
    params.write_text(params.read_text().replace("0.7", "0.6"))
    commit, _ = gitops.commit_all(project, branch="main", identity=ME)
    assert git.Repo(project).commit(commit).summary == "Set train_fraction: 0.7 → 0.6 (bricksmith)"
    params.write_text(params.read_text().replace("0.6", "0.5"))
    commit, _ = gitops.commit_all(project, branch="main", identity=ME, message="Tune")
    assert git.Repo(project).commit(commit).message.startswith(
        "Tune\n\nconf/base/parameters.yml (modified):\n  train_fraction: 0.6 → 0.5\n")


@pytest.mark.parametrize(("name", "expected"), [
    ("conf/base/parameters.yml", True), ("conf/base/parameters_data_science.yml", True),
    ("conf/base/parameters/model.yaml", True), ("conf/prod/parameters.json", True),
    ("conf/base/catalog.yml", False), ("src/parameters.py", False),
])
def test_parameters_files_are_found_as_kedro_finds_them(name, expected):
    assert is_parameters_file(name) is expected


def test_another_branch_or_a_detached_head_is_refused_and_nothing_moves(tmp_path):
    project = project_with_params(tmp_path)
    first, _ = gitops.commit_all(project, branch="main", identity=ME)
    repo = git.Repo(project)
    mine = commit_as_user(repo, "NOTES.md", "B")
    repo.git.checkout("-qb", "feature", first)
    feature = commit_as_user(repo, "FEATURE.md", "C")
    (project / "conf/base/parameters.yml").write_text("train_fraction: 0.1\n")
    with pytest.raises(GitError) as err:
        gitops.commit_all(project, branch="main", identity=ME)
    assert "is on branch feature, but the spec's repo.branch is main" in err.value.message
    assert f"git -C {project} checkout main" in err.value.hint
    assert (repo.commit("main").hexsha, repo.commit("feature").hexsha) == (mine, feature)

    repo.git.checkout("-q", "--detach", feature)
    with pytest.raises(GitError, match="detached HEAD"):
        gitops.commit_all(project, branch="main", identity=ME)
    assert (repo.commit("main").hexsha, repo.commit("feature").hexsha) == (mine, feature)

    repo.git.checkout("-qf", "main")
    (project / "conf/base/parameters.yml").write_text("train_fraction: 0.1\n")
    top, made = gitops.commit_all(project, branch="main", identity=ME)
    assert made and repo.commit(top).parents[0].hexsha == mine  # on top of the user's work


def test_an_unborn_repository_on_another_branch_name_is_pointed_at_the_spec_branch(tmp_path):
    project = project_with_params(tmp_path)
    subprocess.run(["git", "init", "-q", "-b", "master", str(project)], check=True)
    commit, made = gitops.commit_all(project, branch="main", identity=ME)
    assert made and git.Repo(project).active_branch.name == "main"
    assert [h.name for h in git.Repo(project).heads] == ["main"]


def test_a_push_that_is_not_a_fast_forward_is_refused(tmp_path):
    project = project_with_params(tmp_path)
    gitops.commit_all(project, branch="main", identity=ME)
    remote = str(tmp_path / "remote.git")
    gitops.ensure_bare_remote(remote, "main")
    gitops.push(project, location=remote, branch="main", token_env=None)
    other = git.Repo.clone_from(remote, tmp_path / "other")
    theirs = commit_as_user(other, "X.md", "X")
    other.git.push("-q", "origin", "main")
    (project / "conf/base/parameters.yml").write_text("train_fraction: 0.1\n")
    gitops.commit_all(project, branch="main", identity=ME)
    with pytest.raises(GitError) as err:
        gitops.push(project, location=remote, branch="main", token_env=None)
    assert "git push refused" in err.value.message and "pull --ff-only" in err.value.hint
    assert gitops.remote_branch_commit(remote, "main") == theirs


def test_push_leaves_an_origin_the_user_set_elsewhere_alone(tmp_path):
    project = project_with_params(tmp_path)
    commit, _ = gitops.commit_all(project, branch="main", identity=ME)
    git.Repo(project).create_remote("origin", "https://example.invalid/mine.git")
    remote = str(tmp_path / "remote.git")
    gitops.ensure_bare_remote(remote, "main")
    assert gitops.push(project, location=remote, branch="main", token_env=None) == commit
    assert gitops.remote_branch_commit(remote, "main") == commit
    assert git.Repo(project).remotes.origin.url == "https://example.invalid/mine.git"


def test_own_paths_are_excluded_through_info_exclude_never_committed(tmp_path):
    project = project_with_params(tmp_path)
    root = project / ".bricksmith/local"
    (root / "logs").mkdir(parents=True)
    (root / "state.db").write_text("state")
    (project / "odd [1]#").mkdir()
    (project / "odd [1]#/x").write_text("x")
    own = [root, project / "odd [1]#", tmp_path / "elsewhere", project]
    commit, _ = gitops.commit_all(project, branch="main", identity=ME, own=own)
    files = git.Repo(project).git.ls_files().split("\n")
    assert files == [".gitignore", "conf/base/parameters.yml"]
    exclude = (project / ".git/info/exclude").read_text()
    assert "/.bricksmith/local\n" in exclude and "/odd \\[1\\]#\n" in exclude
    assert "elsewhere" not in exclude
    assert gitops.exclude_own_paths(project, own) == []  # written once
    assert ".bricksmith" not in (project / ".gitignore").read_text()
    (root / "state.db").write_text("changed")
    status, _probes = gitops.project_status(project, own)
    assert status.changed == [] and status.branch == "main" and status.head == commit
    assert gitops.commit_all(project, branch="main", identity=ME, own=own) == (commit, False)
    assert subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True,
                          text=True).stdout == ""  # the user's own `git status` too


def make_clone(tmp_path: Path) -> tuple[str, Path, str]:
    project = project_with_params(tmp_path)
    commit, _ = gitops.commit_all(project, branch="main", identity=ME)
    remote = str(tmp_path / "remote.git")
    gitops.ensure_bare_remote(remote, "main")
    gitops.push(project, location=remote, branch="main", token_env=None)
    clone = tmp_path / "Workspace/Repos/u/project"
    sync_clone(remote, clone, branch="main", commit=commit)
    return remote, clone, commit


def test_foreign_files_in_the_git_folder_are_drift_run_outputs_are_not(tmp_path):
    _remote, clone, commit = make_clone(tmp_path)
    assert folder_drift(clone, commit) == []
    for rel in ("src/pkg/__pycache__/x.cpython-311.pyc", "data/02_intermediate/out.parquet",
                "logs/info.log", "mlruns/0/meta.yaml"):
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text("made by a run")
    assert folder_drift(clone, commit) == []
    (clone / "conf/local").mkdir(parents=True)
    (clone / "conf/local/parameters.yml").write_text("train_fraction: 0.1\n")  # ignored
    (clone / "extra.py").write_text("import os\n")  # untracked
    assert foreign_files(clone) == ["conf/local/parameters.yml", "extra.py"]
    assert folder_drift(clone, commit) == [
        "workspace repo has files that are not in the commit: conf/local/parameters.yml, "
        "extra.py"]


def test_sync_removes_foreign_files_and_edits_after_keeping_a_copy(tmp_path):
    remote, clone, commit = make_clone(tmp_path)
    (clone / "conf/local").mkdir(parents=True)
    (clone / "conf/local/parameters.yml").write_text("train_fraction: 0.1\n")
    (clone / "conf/base/parameters.yml").write_text("train_fraction: 0.2\n")
    (clone / "data/01_raw").mkdir(parents=True)
    (clone / "data/01_raw/iris.csv").write_text("kept: written by runs\n")
    keep = tmp_path / "root/workspace-edits"
    head, kept, files = sync_clone(remote, clone, branch="main", commit=commit, keep_dir=keep)
    assert head == commit and kept is not None and kept.parent == keep
    assert files == ["conf/base/parameters.yml", "conf/local/parameters.yml"]
    assert (kept / "conf/local/parameters.yml").read_text() == "train_fraction: 0.1\n"
    assert (kept / "conf/base/parameters.yml").read_text() == "train_fraction: 0.2\n"
    assert not (clone / "conf/local/parameters.yml").exists()
    assert "train_fraction: 0.8" in (clone / "conf/base/parameters.yml").read_text()
    assert (clone / "data/01_raw/iris.csv").is_file()
    assert folder_drift(clone, commit) == []
    assert sync_clone(remote, clone, branch="main", commit=commit, keep_dir=keep)[1:] == (
        None, [])


def test_project_status_reads_branch_head_and_every_kind_of_change():
    text = (
        "# branch.oid 0123456789abcdef0123456789abcdef01234567\n"
        "# branch.head main\n"
        "1 .M N... 100644 100644 100644 aaa bbb conf/base/parameters.yml\n"
        "2 R. N... 100644 100644 100644 aaa bbb R100 new name.py\told.py\n"
        "u UU N... 100644 100644 100644 100644 aaa bbb ccc both.txt\n"
        "? notes/todo.md\n"
    )
    status = gitops.ProjectStatus.parse(text)
    assert status.branch == "main" and status.head.startswith("0123")
    assert status.changed == ["conf/base/parameters.yml", "new name.py", "both.txt",
                              "notes/todo.md"]
    fresh = gitops.ProjectStatus.parse("# branch.oid (initial)\n# branch.head (detached)\n")
    assert (fresh.branch, fresh.head, fresh.changed) == (None, None, [])


def test_a_deleted_or_broken_parameters_file_still_gets_a_message(tmp_path):
    project = project_with_params(tmp_path)
    gitops.commit_all(project, branch="main", identity=ME)
    params = project / "conf/base/parameters.yml"
    params.write_text("train_fraction: [0.8\n")  # not YAML: no keys, the file is still named
    commit, _ = gitops.commit_all(project, branch="main", identity=ME)
    assert git.Repo(project).commit(commit).message == (
        "Update conf/base/parameters.yml (bricksmith)\n\nconf/base/parameters.yml (modified)\n")
    params.unlink()
    commit, _ = gitops.commit_all(project, branch="main", identity=ME)
    summary = git.Repo(project).commit(commit).summary
    assert summary == "Update conf/base/parameters.yml (bricksmith)"


def test_sync_after_a_kill_mid_git_removes_the_stale_locks_it_left(tmp_path):
    """A kill during workspace.repo left .git/index.lock in the Git folder's clone; every later
    apply failed with "Unable to create .../index.lock" (found by the kill campaign)."""
    remote, clone, commit = make_clone(tmp_path)
    (clone / ".git/index.lock").write_text("")
    (clone / ".git/refs/heads/main.lock").write_text("")
    (clone / "conf/base/parameters.yml").write_text("train_fraction: 0.2\n")
    head, _, _ = sync_clone(remote, clone, branch="main", commit=commit)
    assert head == commit
    assert not (clone / ".git/index.lock").exists()
    assert "train_fraction: 0.8" in (clone / "conf/base/parameters.yml").read_text()


def test_sync_keeps_no_copy_of_an_edit_the_new_commit_already_holds(tmp_path):
    """A workspace edit that ``pull`` committed is in the commit the folder moves to: nothing
    is lost, so nothing is copied; an edit the commit does not hold still is."""
    import git as gitpython

    remote, clone, commit = make_clone(tmp_path)
    (clone / "conf/base/parameters.yml").write_text("train_fraction: 0.6\n")
    (clone / "NOTES.md").write_text("not pulled\n")
    work = tmp_path / "work"
    repo = gitpython.Repo.clone_from(remote, work)
    (work / "conf/base/parameters.yml").write_text("train_fraction: 0.6\n")
    repo.index.add(["conf/base/parameters.yml"])
    with repo.git.custom_environment(GIT_AUTHOR_NAME="u", GIT_AUTHOR_EMAIL="u@x",
                                     GIT_COMMITTER_NAME="u", GIT_COMMITTER_EMAIL="u@x"):
        repo.git.commit("-qm", "pulled")
    repo.git.push("-q", "origin", "HEAD:main")
    newer = repo.head.commit.hexsha
    keep = tmp_path / "root/workspace-edits"
    head, kept, files = sync_clone(remote, clone, branch="main", commit=newer, keep_dir=keep)
    assert head == newer and files == ["NOTES.md"]
    assert (kept / "NOTES.md").read_text() == "not pulled\n"
    assert (clone / "conf/base/parameters.yml").read_text() == "train_fraction: 0.6\n"


def test_a_checkout_drops_the_bytecode_runs_left(tmp_path):
    """Python trusts a .pyc whose source has the same size and modification second: after a
    checkout none is left, so a node edited within the second still runs its new code."""
    from bricksmith.backends.git_folder import drop_bytecode

    folder = tmp_path / "repo"
    (folder / "src/pkg/__pycache__").mkdir(parents=True)
    (folder / "src/pkg/__pycache__/nodes.cpython-311.pyc").write_bytes(b"old")
    (folder / "src/pkg/nodes.py").write_text("x = 1\n")
    (folder / "loose.pyc").write_bytes(b"old")
    (folder / ".git/objects").mkdir(parents=True)
    (folder / ".git/objects/keep.pyc").write_bytes(b"git's own")
    assert drop_bytecode(folder) == 2
    assert not (folder / "src/pkg/__pycache__").exists() and not (folder / "loose.pyc").exists()
    assert (folder / "src/pkg/nodes.py").read_text() == "x = 1\n"
    assert (folder / ".git/objects/keep.pyc").read_bytes() == b"git's own"
