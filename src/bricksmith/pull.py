"""``bricksmith pull SPEC``: bring the edits made in the workspace Git folder home.

The guide's workspace-first loop ends with "commit your changes in your Databricks Repo, push
them to GitHub, check that the latest commits are visible". ``pull`` does that from the local
side: it writes each file edited, added or removed in the Git folder (since the commit apply
checked it out at) into the local project, commits exactly those files on the spec's branch,
pushes (fast-forward only), checks that the remote branch holds the commit, and checks the Git
folder out at it, so the workspace, the project and the remote agree.

Nothing is written when any file cannot be brought home as it is:

- the local project changed the same file since that commit (uncommitted, or committed and
  not in the workspace) and git's three-way merge (``git merge-file``) conflicts: both sides
  stay as they are, the file is named;
- the workspace changed a parameter the spec sets in ``project.params`` to another value: the
  spec owns it (``apply`` would write it back), so the key and both values are named.

It works through the backend's ``repo_edits``/``repo_file``/``sync_repo`` and holds the
target's apply lock, so no apply works on the Git folder meanwhile. The next apply re-runs the
runs, as for any new commit.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bricksmith.backends import git as gitops
from bricksmith.backends.workspace_edits import REMOVED, describe_edits, unified_diff
from bricksmith.errors import GitError, UsageError, WorkspaceEdits

PARAMS_FILE = "conf/base/parameters.yml"


@dataclass
class Pulled:
    """What a pull did: the files written into the project (``{"path", "change", "diff"}``,
    the diff from the project's file before to after), the commit made and pushed (None when
    there was nothing to pull), and the Git folder's path."""

    files: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None
    branch: str = ""
    remote: str = ""
    folder: str = ""
    # a copy of what the folder held and the commit does not (ignored files, now in the
    # project too; edits made while pulling)
    kept: str | None = None
    committed: list[str] = field(default_factory=list)  # the paths of the commit made
    kept_files: list[str] = field(default_factory=list)  # the paths of ``kept``
    # the deployed notebook, when it was edited in the workspace: generated, so not pulled
    notebook: str | None = None


def pull(workflow, *, message: str | None = None) -> Pulled:
    """Bring the workspace Git folder's edits into ``workflow``'s project, commit (``message``,
    else one listing the files), push and check the folder out at the commit.

    Raises :class:`UsageError` (nothing applied yet, a backend that cannot read edits, the
    project on another branch or without the folder's commit), :class:`WorkspaceEdits` (a
    conflict; nothing written) and :class:`GitError` (commit or push failed)."""
    from bricksmith.engine.lock import TargetLock

    spec_path = workflow.spec.path
    record = workflow.records().get("workspace.repo")
    backend = workflow.backend
    if record is None or "path" not in record.outputs:
        raise UsageError(
            f"nothing to pull: target {workflow.target!r} has no workspace Git folder yet",
            hint=f"run `bricksmith apply {spec_path}` first",
        )
    if not hasattr(backend, "repo_edits"):
        raise UsageError(
            f"pull cannot read the workspace Git folder on the {backend.name} backend yet",
            hint="commit and push the edits from the workspace's Git dialog, then apply",
        )
    graph = workflow.graph
    commit_step, push_step = graph.step("git.commit"), graph.step("git.push")
    repo_step = graph.step("workspace.repo")
    outputs = record.outputs
    done = Pulled(branch=push_step.branch, remote=push_step.location, folder=outputs["path"])
    with TargetLock(workflow.root, workflow.target):
        deployed = workflow.records().get("notebook.deploy")
        if deployed is not None and "notebook.deploy" in graph.steps:
            edited = graph.step("notebook.deploy").edit(backend, deployed.outputs)
            done.notebook = edited["path"] if edited else None
        edits = backend.repo_edits(outputs)
        if not edits:
            return done
        project = workflow.spec.project_dir
        base = edits[0]["base"]
        _check_project(project, commit_step.branch, base, spec_path)
        results = [_merged(project, base, edit, backend.repo_file(outputs, edit["path"]))
                   for edit in edits]
        conflicts = [(edit, why) for edit, (_new, why) in zip(edits, results, strict=True)
                     if why]
        if conflicts:
            raise WorkspaceEdits(
                "cannot pull the workspace edits: the local project changed the same lines: "
                + "; ".join(f"{edit['path']} ({why})" for edit, why in conflicts)
                + "; nothing was written, both sides are as they were",
                hint="commit or undo your local change to those files (or make the same "
                f"edit on both sides), then run `bricksmith pull {spec_path}` again",
            )
        writes = {edit["path"]: new for edit, (new, _why) in zip(edits, results, strict=True)}
        _check_params(workflow, project, base, writes.get(PARAMS_FILE, False))
        done.files = _write(project, writes)
        ignored = _ignored(project, [edit["path"] for edit in edits])
        for f in done.files:
            f["committed"] = f["path"] not in ignored
        committing = _changed(project, [e["path"] for e in edits if e["path"] not in ignored])
        if committing:
            shown = [f for f in done.files if f["path"] in committing] or \
                [{"path": p, "change": "modified"} for p in committing]
            done.commit = _commit(project, commit_step, committing,
                                  message or _message(shown))
            done.committed = committing
        else:
            done.commit = gitops.project_head(project)
        pushed = gitops.push(project, location=push_step.location, branch=push_step.branch,
                             token_env=push_step.token_env)
        there = gitops.remote_branch_commit(push_step.location, push_step.branch,
                                            push_step.token_env)
        if there != pushed:
            raise GitError(f"pushed {pushed[:10]}, but the remote branch {push_step.branch} "
                           f"is at {str(there)[:10]}",
                           hint=f"inspect {push_step.location}; nothing was lost locally")
        done.commit = pushed
        synced = backend.sync_repo(name=repo_step.name, location=push_step.location,
                                   branch=push_step.branch, commit=pushed,
                                   token_env=repo_step.token_env, git=repo_step.git,
                                   project=project, previous=outputs)
        done.kept = synced.get("_kept")
        done.kept_files = list(synced.get("_kept_files") or [])
    return done


def _check_project(project: Path, branch: str, base: str, spec_path: Path) -> None:
    if not (project / ".git").exists():
        raise UsageError(f"the project {project} is not a git repository",
                         hint=f"run `bricksmith apply {spec_path}` first")
    status, _probes = gitops.project_status(project)
    refusal = gitops.branch_refusal(project, status, branch)
    if refusal is not None:
        raise refusal
    if _git(project, "cat-file", "-e", f"{base}^{{commit}}").returncode != 0:
        raise UsageError(
            f"the workspace Git folder is at commit {base[:10]}, which the project {project} "
            "does not have",
            hint=f"fetch it into the project (git -C {project} fetch), then pull again",
        )


def _merged(project: Path, base: str, edit: dict, theirs: bytes | None
            ) -> tuple[bytes | None | bool, str]:
    """(what the project's file becomes: bytes, None to remove it, False to leave it; why it
    conflicts, "" when it does not)."""
    path = edit["path"]
    ours = _read(project / path)
    if ours == theirs:
        return False, ""
    old = _show(project, base, path)
    if ours == old:
        return theirs, ""
    if theirs is None or ours is None or old is None:
        return False, ("removed on one side, changed on the other" if old is not None
                       else "added on both sides with other contents")
    with tempfile.TemporaryDirectory(prefix="bricksmith-pull-") as tmp:
        files = []
        for name, data in (("ours", ours), ("base", old), ("theirs", theirs)):
            (Path(tmp) / name).write_bytes(data)
            files.append(str(Path(tmp) / name))
        merged = _git(project, "merge-file", "-p", "-L", "local", "-L", "pushed", "-L",
                      "workspace", *files)
    if merged.returncode != 0:
        return False, "both changed the same lines" if merged.returncode > 0 else \
            "git merge-file failed"
    return merged.stdout, ""


def _check_params(workflow, project: Path, base: str, new: bytes | None | bool) -> None:
    """A workspace edit of a key the spec sets in ``project.params`` to another value is a
    conflict: the spec owns it."""
    import yaml

    wanted = workflow.spec.workflow.project.params
    if new is False or not wanted:
        return

    def params(data: bytes | None) -> dict:
        try:
            loaded = yaml.safe_load(data or b"")
        except yaml.YAMLError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    before, after = params(_show(project, base, PARAMS_FILE)), params(new)
    clashes = [(key, value, after.get(key)) for key, value in wanted.items()
               if after.get(key) != before.get(key) and after.get(key) != value]
    if clashes:
        spec = workflow.spec.path
        raise WorkspaceEdits(
            f"cannot pull {PARAMS_FILE}: the spec owns "
            + "; ".join(f"project.params.{key} ({spec} sets {value!r}, the workspace edit "
                        f"sets {ws!r})" for key, value, ws in clashes)
            + "; nothing was written",
            hint="set "
            + ", ".join(f"project.params.{key}: {ws!r}" for _key, _v, ws in clashes
                        for key in [_key])
            + f" in {spec} to keep the workspace's value (or undo the edit in the workspace), "
            "then pull again",
        )


def _write(project: Path, writes: dict[str, bytes | None | bool]) -> list[dict[str, Any]]:
    from bricksmith.atomic import write_bytes_atomically

    files = []
    for path, new in sorted(writes.items()):
        if new is False:
            continue
        file = project / path
        old = _read(file)
        try:
            if new is None:
                file.unlink(missing_ok=True)
            else:
                write_bytes_atomically(file, new, create_folder=True)
        except OSError as exc:
            raise UsageError(f"cannot write {file}: {exc.strerror or exc}",
                             hint=f"check permissions under {project}; the workspace Git "
                             "folder still holds every edit") from None
        change = REMOVED if new is None else ("added" if old is None else "modified")
        files.append({"path": path, "change": change, "diff": unified_diff(path, old, new)})
    return files


def _ignored(project: Path, paths: list[str]) -> set[str]:
    """The ``paths`` the project's .gitignore ignores (``conf/local`` in a Kedro project):
    copied into the project, never committed or pushed."""
    if not paths:
        return set()
    done = subprocess.run(["git", "check-ignore", "-z", "--stdin"], cwd=project, check=False,
                          input="\0".join(paths).encode() + b"\0", capture_output=True)
    return {p for p in done.stdout.decode().split("\0") if p}


def _changed(project: Path, paths: list[str]) -> list[str]:
    """The ``paths`` whose file differs from the project's HEAD (or is new)."""
    if not paths:
        return []
    done = _git(project, "status", "--porcelain", "-z", "--untracked-files=all", "--",
                *(f":(literal){p}" for p in paths))
    entries = [e for e in done.stdout.decode().split("\0") if e]
    return sorted({e[3:] for e in entries if len(e) > 3} & set(paths))


def _commit(project: Path, step, paths: list[str], message: str) -> str:
    _run(project, "add", "--all", "--", *(f":(literal){p}" for p in paths))
    _run(project, "commit", "--quiet", "--no-verify", "-m", message, "--",
         *(f":(literal){p}" for p in paths), env=step.author.env())
    return _git(project, "rev-parse", "HEAD").stdout.decode().strip()


def _message(files: list[dict[str, Any]]) -> str:
    subject = f"Pull workspace edits: {describe_edits(files, limit=3)}"
    body = "\n".join(f"- {f['path']} ({f['change']})" for f in files)
    return f"{subject}\n\nEdited in the workspace Git folder, brought home by bricksmith pull:\n" \
        f"{body}\n"


def _read(file: Path) -> bytes | None:
    try:
        return file.read_bytes() if file.is_file() else None
    except OSError:
        return None


def _show(project: Path, commit: str, path: str) -> bytes | None:
    done = _git(project, "cat-file", "blob", f"{commit}:{path}")
    return done.stdout if done.returncode == 0 else None


def _git(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(["git", *args], cwd=project, capture_output=True, check=False,
                          env={**os.environ, **(env or {})})


def _run(project: Path, *args: str, env: dict | None = None) -> None:
    done = _git(project, *args, env=env)
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        raise GitError(f"git {args[0]} failed in {project}: {detail}",
                       hint=f"inspect the repository at {project}")


def run_pull_command(workflow, *, message: str | None = None) -> int:
    """The CLI's ``pull``: pull, then say what changed (each file and its diff), the commit,
    the push and the Git folder's commit. Returns the exit code."""
    done = pull(workflow, message=message)
    spec = workflow.spec.path
    if done.notebook:
        print(f"Not pulled: the deployed notebook {done.notebook} was edited in the workspace; "
              "bricksmith generates it, so its edits have no place in the project. Copy what "
              f"you need into the project; `bricksmith apply {spec} --discard-workspace-edits` "
              "then replaces it (keeping a copy).")
    if done.commit is None:
        print(f"Nothing to pull: the workspace Git folder {done.folder} has no edits.")
        return 0
    if not done.files:
        print("The project already holds the workspace's edits.")
    for f in done.files:
        note = "" if f["committed"] else " (not committed: the project's .gitignore ignores it)"
        print(f"{f['change']}: {f['path']}{note}")
        for line in f["diff"].splitlines():
            print(f"    {line}")
    if done.committed:
        print(f"Committed {done.commit[:10]} on {done.branch}: {', '.join(done.committed)}.")
    else:
        print("Nothing to commit.")
    print(f"Pushed {done.commit[:10]} to {done.remote} {done.branch} (the remote branch holds it).")
    print(f"Workspace Git folder {done.folder} at {done.commit[:10]}.")
    if done.kept:
        print(f"Removed from the Git folder what the commit does not hold "
              f"({', '.join(done.kept_files)}); a copy of each is in {done.kept}.")
    print(f"Next: `bricksmith apply {spec}` runs what depends on the change.")
    return 0
