"""Semantic checks: what the schema cannot say (references between keys, paths, URLs).

They read the interpolated document defensively (any part may have the wrong shape, which the
schema/model validation reports), so they run even when the model validation failed and every
problem is reported at once. They read the file system (starter directories) but never write.
What makes a single path or git value unusable is in :mod:`.path_checks` and
:mod:`.git_checks`; this module walks the document's sections and reports it where it is.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bricksmith.errors import Diagnostic
from bricksmith.gitremote import SCP_LIKE, URL_SCHEME
from bricksmith.pathfacts import PathFacts
from bricksmith.redact import redact
from bricksmith.spec.git_checks import (
    branch_problem,
    git_url_problem,
    is_bare_repository,
    is_git_repository,
    remote_problem,
    starters_hint,
)
from bricksmith.spec.interpolate import VAR_NAME_PATTERN
from bricksmith.spec.loader import Document
from bricksmith.spec.path_checks import dbfs_target_problem, inside_problem, local_path_problem

__all__ = [
    "BUILTIN_STARTERS",
    "semantic_diagnostics",
]

# Keep in step with bricksmith.starters.BUILTIN_STARTERS (a test checks); not imported from
# there to keep the spec package's imports light and independent.
BUILTIN_STARTERS = ("databricks-iris",)
_VAR_NAME = re.compile(rf"^{VAR_NAME_PATTERN}$")


def semantic_diagnostics(
    document: Document, base_dir: Path, facts: PathFacts | None = None
) -> list[Diagnostic]:
    """Every semantic problem of the (interpolated) document. ``base_dir``: the spec folder.
    ``facts`` receives every path the checks looked at."""
    return _Checker(document, base_dir, facts or PathFacts()).run()


class _Checker:
    def __init__(self, document: Document, base_dir: Path, facts: PathFacts) -> None:
        self.doc = document
        self.data = document.data
        self.base_dir = base_dir
        self.facts = facts
        self.out: list[Diagnostic] = []

    def error(self, path: tuple, message: str, hint: str | None = None, **kw: Any) -> None:
        self.out.append(self.doc.diagnostic(path, message, hint, **kw))

    def section(self, key: str) -> Any:
        return self.data.get(key)

    def run(self) -> list[Diagnostic]:
        self.check_variables()
        self.check_project()
        self.check_repo()
        self.check_targets()
        self.check_data()
        self.check_runs()
        return self.out

    # ----------------------------------------------------------------------------- sections

    def check_variables(self) -> None:
        variables = self.section("variables")
        if not isinstance(variables, dict):
            return
        for name in variables:
            if not _VAR_NAME.match(name):
                self.error(("variables", name), f"invalid variable name {name!r}",
                           "names are letters, digits, '_' and '-', starting with a letter or "
                           "'_' (so that ${var.NAME} can refer to them)")

    def check_project(self) -> None:
        project = self.section("project")
        if not isinstance(project, dict):
            return
        path = project.get("path")
        if isinstance(path, str) and path:
            problem = local_path_problem(path)
            if problem:
                self.error(("project", "path"), f"project.path {path!r} {problem}",
                           "give the project folder relative to the spec file's folder, "
                           "e.g. path: iris-databricks", at_value=True)
        starter = project.get("starter", BUILTIN_STARTERS[0])
        if isinstance(starter, str) and starter:
            options = {key: project.get(key) for key in ("starter_directory", "starter_checkout")}
            self.check_starter(starter, {k: v for k, v in options.items()
                                         if isinstance(v, str) and v})

    def check_starter(self, starter: str, options: dict[str, str]) -> None:
        where = ("project", "starter")
        builtins = ", ".join(BUILTIN_STARTERS)
        location, _, fragment = starter.partition("#")
        if location in BUILTIN_STARTERS:
            hint = ("it names a folder or git ref of a starter folder or repository "
                    "(kedro new --directory/--checkout); remove it")
            if fragment:
                self.error(where, f"the built-in starter {location!r} has no folder "
                           f"'#{fragment}'", hint, at_value=True)
            for key in options:
                self.error(("project", key), f"{key} does not apply to the built-in starter "
                           f"{location!r}", hint, at_value=True)
            return
        # Mirrors bricksmith.starters.resolve_starter: built-in name, local folder (relative to
        # the spec folder, '~' expanded; a template, or a git repository), or a git URL
        # (optionally 'git+' prefixed); the starter's folder as '#<folder>' or
        # starter_directory; a git ref as starter_checkout. Git URLs are not fetched here.
        directory = options.get("starter_directory")
        sub_at = ("project", "starter_directory") if directory else where
        if fragment and directory and fragment.strip("/") != directory.strip("/"):
            self.error(sub_at, f"starter_directory {directory!r} and the starter's "
                       f"'#{fragment}' name different folders",
                       "name the starter's folder once: '#<folder>' or starter_directory",
                       at_value=True)
            return
        subdir = (directory or fragment).strip("/")
        if subdir and (local_path_problem(subdir) or inside_problem(subdir)):
            self.error(sub_at, f"starter folder {subdir!r} must be a relative path inside "
                       "the starter", "give the folder relative to the starter's root, e.g. "
                       "spaceflights-pandas", at_value=True)
            return
        if URL_SCHEME.match(location) or SCP_LIKE.match(location):
            problem = git_url_problem(location, allow_pip_prefix=True)
            if problem:
                self.error(where, f"starter {redact(starter)!r}: {problem[0]}", problem[1],
                           at_value=True)
            return
        folder = Path(location).expanduser()
        if not folder.is_absolute():
            folder = self.base_dir / folder
        kind = self.facts.kind(folder)
        if kind == "dir":
            self.check_starter_folder(starter, folder, subdir, options, sub_at)
            return
        if kind != "missing":
            self.error(where, f"starter {starter!r} is a file, not a folder",
                       "give a starter template folder, a git URL, or a built-in starter: "
                       + builtins, at_value=True)
            return
        if location.endswith(".git"):
            return  # cloned like a URL when the starter is used
        looks_like_path = "/" in location or "\\" in location or location.startswith((".", "~"))
        if looks_like_path or fragment:
            self.error(where, f"starter folder {location!r} does not exist",
                       f"paths are relative to the spec file's folder ({self.base_dir}); "
                       f"built-in starters: {builtins}", at_value=True)
            return
        close = difflib.get_close_matches(starter, BUILTIN_STARTERS, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + (
            f"built-in starters: {builtins}; or give a local starter folder or a git URL")
        self.error(where, f"unknown starter {starter!r}", hint, at_value=True)

    def check_starter_folder(self, starter: str, folder: Path, subdir: str,
                             options: dict[str, str], sub_at: tuple) -> None:
        """A local starter folder: its template must be there, unless git provides it."""
        checkout = options.get("starter_checkout")
        kind = self.facts.kind
        if checkout and not is_git_repository(folder, kind):
            self.error(("project", "starter_checkout"), f"starter_checkout {checkout!r} needs a "
                       f"git repository; the starter folder {starter.partition('#')[0]!r} is "
                       "not one", "remove starter_checkout, or use a git repository or URL",
                       at_value=True)
            return
        if checkout or is_bare_repository(folder, kind):
            return  # its content depends on the ref; checked when it is cloned
        template = folder / subdir if subdir else folder
        if subdir and kind(template) != "dir":
            self.error(sub_at, f"starter folder {starter.partition('#')[0]!r} has no folder "
                       f"{subdir!r}", starters_hint(folder) or "check the folder's name",
                       at_value=True)
        elif kind(template / "cookiecutter.json") != "file":
            shown = f"{starter.partition('#')[0]}/{subdir}" if subdir else starter
            self.error(sub_at, f"starter folder {shown!r} is not a Kedro starter "
                       "(no cookiecutter.json)", starters_hint(template) or
                       "a starter is a cookiecutter template: cookiecutter.json plus a "
                       "{{ cookiecutter.repo_name }} folder", at_value=True)

    def check_repo(self) -> None:
        repo = self.section("repo")
        if not isinstance(repo, dict):
            return
        remote = repo.get("remote")
        if isinstance(remote, str) and remote:
            problem = remote_problem(remote, self.base_dir, self.facts.kind)
            if problem:
                self.error(("repo", "remote"), problem[0], problem[1], at_value=True)
        self.check_git_provider(repo)
        branch = repo.get("branch")
        if isinstance(branch, str) and branch:
            problem = branch_problem(branch)
            if problem:
                self.error(("repo", "branch"), f"invalid branch name {branch!r}: {problem}",
                           "use a plain git branch name such as main or feature/params",
                           at_value=True)

    def check_git_provider(self, repo: dict) -> None:
        """Databricks Git folders clone over HTTPS from a provider Databricks is told."""
        from bricksmith.gitproviders import known_provider, provider_problem

        targets = self.section("targets")
        remote, provider = repo.get("remote"), repo.get("provider")
        if not isinstance(targets, dict) or not isinstance(remote, str) or not remote:
            return
        databricks = [name for name, config in targets.items()
                      if isinstance(config, dict) and config.get("backend") == "databricks"]
        if not databricks:
            return
        problem = provider_problem(remote, provider if isinstance(provider, str) else None)
        if problem:
            self.error(("repo", "remote"), f"{problem[0]} (target {databricks[0]} is a "
                       "Databricks workspace)", problem[1], at_value=True)
            return
        effective = provider if isinstance(provider, str) else known_provider(remote)
        if effective == "awsCodeCommit" and repo.get("token_env") and not repo.get(
                "git_username"):
            self.error(("repo",), "AWS CodeCommit Git credentials need a user name",
                       "set repo.git_username to the CodeCommit HTTPS Git credential's "
                       "user name")

    def check_targets(self) -> None:
        targets = self.section("targets")
        has_targets = "targets" in self.data
        if has_targets and not isinstance(targets, dict):
            return
        names = list(targets) if has_targets else ["local"]
        if has_targets and not names:
            self.error(("targets",), "no targets are defined",
                       "define at least one, e.g. targets: {local: {backend: local}}")
            return
        known = ", ".join(names)
        target = self.data.get("target")
        if "target" in self.data:
            if isinstance(target, str) and target not in names:
                close = difflib.get_close_matches(target, names, n=1)
                hint = (f"did you mean {close[0]!r}? " if close else "") + f"defined: {known}"
                self.error(("target",), f"target {target!r} is not defined in targets", hint,
                           at_value=True)
        elif "local" not in names:
            self.error(("target",), "no default target: `target:` is not set and targets has "
                       "no 'local'", f"add `target: {names[0]}` (defined: {known})",
                       at=("targets",))
        if not isinstance(targets, dict):
            return
        for name, config in targets.items():
            if not isinstance(config, dict):
                continue
            root = config.get("root")
            if isinstance(root, str) and root.startswith("~"):
                self.error(("targets", name, "root"), f"root {root!r}: '~' is not expanded",
                           "give the folder relative to the spec file's folder, or absolute",
                           at_value=True)
            parent = config.get("git_folder_parent")
            if isinstance(parent, str) and ".." in parent.split("/"):
                self.error(("targets", name, "git_folder_parent"),
                           f"git_folder_parent {parent!r} contains '..'",
                           "give the workspace folder without '..', e.g. "
                           "/Workspace/Users/{user}/git", at_value=True)
            if config.get("backend") == "databricks":
                self.check_compute(name, config)
            host = config.get("host")
            if config.get("backend") == "databricks" and isinstance(host, str) and host:
                split = urlsplit(host)
                if split.scheme not in ("https", "http") or not split.netloc:
                    self.error(("targets", name, "host"), f"host {host!r} is not a URL",
                               "write the workspace URL with its scheme, "
                               "e.g. https://adb-1234567890.12.azuredatabricks.net",
                               at_value=True)

    def check_compute(self, name: str, config: dict) -> None:
        """A databricks target runs on ``cluster_id`` or, said explicitly, serverless; a
        serverless one takes no ``dbfs:`` data target (serverless compute has only limited
        DBFS access: Databricks docs, "Serverless compute limitations")."""
        from bricksmith.spec.models import DatabricksTarget

        if set(config) - set(DatabricksTarget.model_fields):
            return  # an unknown key (a misspelt cluster_id?): the schema reports it first
        cluster, serverless = config.get("cluster_id"), config.get("serverless")
        if serverless is True and cluster not in (None, ""):
            self.error(("targets", name, "serverless"),
                       f"target {name!r} sets both cluster_id and serverless: true",
                       "keep cluster_id to run on that cluster, or remove it to run serverless")
        elif cluster in (None, "") and serverless is not True:
            self.error(("targets", name), f"databricks target {name!r} has no cluster_id",
                       "set cluster_id: <an all-purpose cluster's id> (e.g. "
                       "${env.DATABRICKS_CLUSTER_ID}), or serverless: true to run on serverless "
                       "compute (the workspace must have serverless jobs enabled)")
        if serverless is not True or cluster not in (None, ""):
            return
        data = self.data.get("data")
        for index, item in enumerate(data if isinstance(data, list) else []):
            target = item.get("target") if isinstance(item, dict) else None
            if isinstance(target, str) and target.startswith("dbfs:"):
                self.error(("data", index, "target"),
                           f"target {target!r}: serverless target {name!r} has only limited "
                           "DBFS access", "use a Unity Catalog volume, e.g. "
                           "/Volumes/<catalog>/<schema>/<volume>/data, or give the target a "
                           "cluster_id", at_value=True)

    def check_data(self) -> None:
        data = self.section("data")
        if not isinstance(data, list):
            return
        seen: dict[str, int] = {}  # target folder -> first data index with it
        covering: dict[str, int] = {}  # every folder above a seen target -> first such index
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                continue
            source = item.get("source")
            if isinstance(source, str) and source:
                problem = inside_problem(source)
                if problem:
                    self.error(("data", index, "source"), f"source {source!r} {problem}",
                               "give a folder inside the project, relative to it, e.g. "
                               "source: data", at_value=True)
            target = item.get("target")
            if not isinstance(target, str) or not target.startswith(("dbfs:/", "/Volumes/")):
                continue  # the schema reports the prefix
            problem = dbfs_target_problem(target)
            if problem:
                self.error(("data", index, "target"), f"target {target!r}: {problem}",
                           "write dbfs:/<folder>/... or /Volumes/<catalog>/<schema>/<volume>/...",
                           at_value=True)
                continue
            normalized = target.rstrip("/")
            parts = normalized.split("/")
            above = ["/".join(parts[:k]) for k in range(1, len(parts))]
            # the earliest other target that is this folder, above it, or below it
            clashes = [seen[f] for f in above if f in seen]
            clashes += [i for i in (seen.get(normalized), covering.get(normalized))
                        if i is not None]
            if clashes:
                other_index = min(clashes)
                same = seen.get(normalized) == other_index
                relation = "is the same folder as" if same else "overlaps"
                self.error(("data", index, "target"),
                           f"target {target!r} {relation} data[{other_index}].target",
                           "give each data folder its own target folder", at_value=True)
            seen.setdefault(normalized, index)
            for folder in above:
                covering.setdefault(folder, index)

    def check_runs(self) -> None:
        runs = self.section("runs")
        if not isinstance(runs, list):
            return
        first: dict[str, int] = {}
        for index, run in enumerate(runs):
            if not isinstance(run, dict) or not isinstance(run.get("name"), str):
                continue
            name = run["name"]
            if name in first:
                self.error(("runs", index, "name"),
                           f"run name {name!r} is already used by runs[{first[name]}]",
                           "run names must be unique (they name step keys and folders); "
                           "rename one of them", at_value=True)
            else:
                first[name] = index
