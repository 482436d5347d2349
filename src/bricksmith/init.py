"""``bricksmith init``: write a commented starter ``workflow.yaml`` for a new project.

:func:`make_answers` checks flag values, :func:`ask` gets them from an injectable prompt
function, :func:`render_spec` turns them into the spec text (pure) and :func:`write_spec`
writes the spec and ``workflow.schema.json`` beside it, refusing to overwrite unless forced.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from bricksmith.errors import UsageError
from bricksmith.spec.models import NAME_PATTERN, Name

__all__ = [
    "SCHEMA_FILE",
    "SPEC_FILE",
    "TARGETS",
    "Answers",
    "ask",
    "default_name",
    "default_remote",
    "input_prompt",
    "make_answers",
    "render_spec",
    "write_spec",
]

SPEC_FILE = "workflow.yaml"
SCHEMA_FILE = "workflow.schema.json"
TARGETS = ("local", "databricks")
DEFAULT_STARTER = "databricks-iris"
NAME_RULES = next(m.description for m in Name.__metadata__ if getattr(m, "description", None))
COMMENT_COLUMN = 34
EXAMPLES = {
    "name": "my-kedro",
    "starter": DEFAULT_STARTER,
    "remote": "../my-kedro.git",
    "target": "databricks",
}
PromptFn = Callable[[str, str], str]  # (question, default) -> answer ("" takes the default)


@dataclass(frozen=True)
class Answers:
    """What ``init`` needs to know; build it with :func:`make_answers` or :func:`ask`."""

    name: str
    starter: str = DEFAULT_STARTER
    remote: str = ""  # "" -> the default remote of the target
    target: str = "local"  # local | databricks: the backend of the default target

    @property
    def repo_remote(self) -> str:
        return self.remote or default_remote(self.name, self.target)


def default_name(directory: str | os.PathLike[str]) -> str:
    """The folder's name when it is a valid workflow name, else ``my-project``."""
    name = Path(directory).resolve().name
    return name if re.fullmatch(NAME_PATTERN, name) else "my-project"


def default_remote(name: str, target: str) -> str:
    """A local bare repository beside the spec, or a GitHub URL for a databricks target."""
    if target == "databricks":
        return f"https://github.com/${{var.github_user}}/{name}.git"
    return f"{name}.git"


def make_answers(
    *, name: str, starter: str | None = None, remote: str | None = None, target: str | None = None
) -> Answers:
    """Check flag values (``None``: the default); :class:`UsageError` names a bad one."""
    values = {
        "name": name.strip(),
        "starter": DEFAULT_STARTER if starter is None else starter.strip(),
        "remote": (remote or "").strip(),
        "target": "local" if target is None else target.strip(),
    }
    for key, value in values.items():
        problem = _problem(key, value)
        if problem is not None:
            message, hint = problem
            raise UsageError(
                f"--{key} {value!r}: {message}",
                hint=f"{hint}, e.g. --{key} {EXAMPLES[key]}",
            )
    return Answers(**values)


def _problem(key: str, value: str) -> tuple[str, str] | None:
    """What is wrong with one answer, as (message, hint); ``None`` when it is fine."""
    if key == "name" and not re.fullmatch(NAME_PATTERN, value):
        return "not a valid workflow name", NAME_RULES.rstrip(".")
    if key == "starter" and not value:
        return "the starter is empty", "give a built-in name, a starter folder or a git URL"
    if key == "target" and value not in TARGETS:
        return "not a backend bricksmith knows", "use local or databricks"
    if key == "remote" and ("\n" in value or "\r" in value):
        return "the remote must be one line", "give a git URL or a local path"
    return None


def ask(prompt_fn: PromptFn, defaults: Mapping[str, str | None], *, attempts: int = 3) -> Answers:
    """Ask each answer through ``prompt_fn(question, default)``; a bad answer is asked again
    (the question then starts with what was wrong), at most ``attempts`` times.

    ``defaults`` may hold ``name`` (pass :func:`default_name` of the folder), ``starter``,
    ``remote`` and ``target``: flag values given with the prompts.
    """
    got: dict[str, str] = {}
    questions = [
        ("name", "Workflow name", lambda: defaults.get("name") or "my-project"),
        ("starter", "Kedro starter", lambda: defaults.get("starter") or DEFAULT_STARTER),
        ("target", "Default target (local/databricks)", lambda: defaults.get("target") or "local"),
        (
            "remote",
            "Git remote",
            lambda: defaults.get("remote") or default_remote(got["name"], got["target"]),
        ),
    ]
    for key, question, default_of in questions:
        default, text = default_of(), question
        for _ in range(attempts):
            answer = prompt_fn(text, default).strip() or default
            problem = _problem(key, answer)
            if problem is None:
                got[key] = answer
                break
            text = f"{answer!r}: {problem[0]} ({problem[1]}). {question}"
        else:
            raise UsageError(
                f"no valid answer to {question!r} after {attempts} tries",
                hint="or run bricksmith init --non-interactive with flags",
            )
    return make_answers(**got)


def input_prompt(question: str, default: str) -> str:
    """A prompt function for a terminal: ``question [default]: ``."""
    try:
        return input(f"{question} [{default}]: ")
    except EOFError:
        raise UsageError(
            "no answer: standard input is closed",
            hint="run bricksmith init --non-interactive --name NAME",
        ) from None


def render_spec(answers: Answers, schema_ref: str = f"./{SCHEMA_FILE}") -> str:
    """The commented ``workflow.yaml`` for ``answers`` (pure)."""
    a = answers
    remote = a.repo_remote
    iris = a.starter == DEFAULT_STARTER
    databricks = a.target == "databricks"
    lines = [f"# yaml-language-server: $schema={schema_ref}", "#"]
    lines += _header(a.name, databricks, remote)
    lines += [
        _line("version: 1", "spec format version (only 1 exists)"),
        _line(f"name: {_scalar(a.name)}", "the workflow; also the workspace repo's name"),
        "",
    ]
    if "${var.github_user}" in remote:
        lines += [
            "# Values for ${var.NAME} in this file; override one with --var NAME=VALUE.",
            "variables:",
            _line("  github_user: your-github-user", "or --var github_user=<you>"),
            "",
        ]
    lines += [
        "# The Kedro project: created from the starter when its folder is missing.",
        "project:",
        _line(f"  starter: {_scalar(a.starter)}", "built-in name, starter folder or git URL"),
        _line(f"  path: {_scalar(a.name)}", "the project's folder, relative to this file"),
    ]
    if iris:
        lines += [
            _line("  params:", "written into conf/base/parameters.yml and committed"),
            "    train_fraction: 0.8",
        ]
    else:
        lines += [
            _line("  params: {}", "written into conf/base/parameters.yml and committed"),
            "  #   e.g. params: {learning_rate: 0.01}",
        ]
    https = remote.startswith("https://")
    lines += [
        "",
        "# The git repository of the project: bricksmith commits changes and pushes them here.",
        "repo:",
        _line(f"  remote: {_scalar(remote)}", _remote_comment(remote)),
        _line("  branch: main", "committed, pushed and checked out in the workspace"),
        _line(
            f"  {'' if https else '# '}token_env: GITHUB_TOKEN",
            "HTTPS: env var holding the token (never written)",
        ),
        "",
    ]
    lines += _targets(databricks)
    lines += [
        *_data_comment(databricks, a.name),
        "data:",
        _line("  - source: data", "a folder of the project"),
        _line(f"    target: {_data_target(databricks, a.name)}", "where the copy lands"),
        "",
        "# Executions of the project notebook, each with its own runtime parameters",
        "# (kedro --params: not committed). Add runs to compare settings side by side.",
        "runs:",
        _line("  - name: baseline", "the committed parameters as they are"),
    ]
    if iris:
        lines += [
            _line("  - name: split-70", "run names are unique; they name the step run.<name>"),
            _line("    params: {train_fraction: 0.7}", "overrides project.params for this run"),
        ]
    else:
        lines += [
            _line("  - name: variant", "run names are unique; they name the step run.<name>"),
            _line("    params: {}", "e.g. {learning_rate: 0.05}"),
        ]
    lines.append(_line("    timeout_minutes: 60", "the run fails after this"))
    return "\n".join(lines) + "\n"


def write_spec(
    directory: str | os.PathLike[str], answers: Answers, force: bool = False
) -> list[Path]:
    """Write ``workflow.yaml`` and ``workflow.schema.json`` into ``directory``; return both.

    Nothing is written when either exists (with other content) unless ``force``.
    """
    from bricksmith.spec import render_schema

    folder = Path(directory)
    files = {folder / SPEC_FILE: render_spec(answers), folder / SCHEMA_FILE: render_schema()}
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder", hint="choose another folder")
    existing = [p for p, text in files.items() if p.exists() and not _same(p, text)]
    if existing and not force:
        names = " and ".join(str(p) for p in existing)
        raise UsageError(
            f"{names} already exist{'s' if len(existing) == 1 else ''}; nothing was written",
            hint="use --force to overwrite, or run init in another folder",
        )
    created = not folder.exists()
    from bricksmith.atomic import temporary_path

    temps = {path: temporary_path(path, ".init.tmp") for path in files}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            with open(temps[path], "w", encoding="utf-8") as out:  # whole on disk before
                out.write(text)  # any file takes its name
                out.flush()
                os.fsync(out.fileno())
        _check_validates(temps[folder / SPEC_FILE])
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(
            f"cannot write into {folder}: {exc.strerror or exc}", hint="check the folder"
        ) from exc
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # refused: leave nothing behind
    return list(files)


def _check_validates(spec: Path) -> None:
    """The spec about to be written must validate where it will live (its starter folder, for
    one); a target's unset environment variables are the user's to set later."""
    from bricksmith.errors import SpecError
    from bricksmith.spec import load_spec

    try:
        load_spec(spec, target="local")
    except SpecError as exc:
        first = exc.diagnostics[0]
        raise UsageError(
            f"the spec init would write does not validate: {first.path or 'spec'}: "
            f"{first.message}; nothing was written",
            hint=first.hint or "check the flags given to init",
        ) from None


def _header(name: str, databricks: bool, remote: str) -> list[str]:
    lines = [
        f"# The bricksmith workflow of the Kedro project {name!r}, written by `bricksmith init`.",
        f"# Every key is described in {SCHEMA_FILE} (editors complete and check this file).",
        f"#   bricksmith validate {SPEC_FILE}   # every problem at once",
        f"#   bricksmith plan {SPEC_FILE}       # what apply would do, and why",
        f"#   bricksmith apply {SPEC_FILE}      # do it; after an edit, only what changed",
    ]
    if databricks:
        lines += [
            "# Before the first apply on Databricks (the local target needs nothing):",
        ]
        if remote.startswith("https://github.com/"):
            lines.append("#   - create the empty GitHub repository of repo.remote;")
        lines += [
            "#   - export GITHUB_TOKEN=<a token that can push to it>   (never written anywhere)",
            "#   - export DATABRICKS_CLUSTER_ID=<an interactive cluster's id>",
            "#   - log the Databricks SDK in: databricks auth login --host https://<workspace>",
        ]
    return [*lines, ""]


def _targets(databricks: bool) -> list[str]:
    lines = [
        "# Where the workflow is applied, by name; every command takes --target NAME.",
        _line(f"target: {'databricks' if databricks else 'local'}", "the default target"),
        _line("targets:", "each has a backend: local or databricks"),
        _line("  local:", "workspace, DBFS and cluster emulated here"),
        "    backend: local",
        _line("    root: .bricksmith/local", "emulated workspace + state, relative"),
    ]
    if databricks:
        lines += [
            _line("  databricks:", "a real workspace, through databricks-sdk"),
            "    backend: databricks",
            _line("    profile: DEFAULT", "in ~/.databrickscfg; or DATABRICKS_HOST"),
            _line("    cluster_id: ${env.DATABRICKS_CLUSTER_ID}", "an all-purpose cluster"),
            _line("    # serverless: true", "instead of cluster_id, where enabled"),
            _line("    root: .bricksmith/databricks", "this target's state, on this machine"),
        ]
    return [*lines, ""]


def _volume(name: str) -> str:
    """A Unity Catalog volume name for ``name`` (letters, digits, underscores)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name.lower()) or "bricksmith"


def _data_target(databricks: bool, name: str) -> str:
    """A Databricks workflow's data lands in a Unity Catalog volume (new accounts have no DBFS
    root); a local-only one in the emulated DBFS."""
    if databricks:
        return f"/Volumes/main/default/{_volume(name)}/data"
    return f"dbfs:/FileStore/{name}/data"


def _data_comment(databricks: bool, name: str) -> list[str]:
    lines = [
        "# Folders of the project copied to a Unity Catalog volume",
        "# (/Volumes/<catalog>/<schema>/<volume>/...) or DBFS (dbfs:/...); unchanged files are",
        "# skipped.",
    ]
    if databricks:
        lines += [
            f"# Create the volume first (SQL: CREATE VOLUME main.default.{_volume(name)}), or",
            "# name one you can write to. dbfs:/FileStore/... works where the workspace still",
            "# has a DBFS root (new accounts do not; serverless targets cannot use it).",
        ]
    return lines


def _remote_comment(remote: str) -> str:
    if "://" in remote or remote.startswith("git@"):
        return "create the empty repository first"
    return "a local bare repository, created if missing"


def _line(code: str, comment: str) -> str:
    """``code`` with ``# comment`` aligned at :data:`COMMENT_COLUMN` (or two spaces after)."""
    return f"{code.ljust(COMMENT_COLUMN - 2)}  # {comment}"


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when it reads back as the same string, else quoted."""
    try:
        plain_ok = yaml.safe_load(value) == value and value == value.strip()
    except yaml.YAMLError:
        plain_ok = False
    return value if plain_ok and "#" not in value else json.dumps(value)


def _same(path: Path, text: str) -> bool:
    try:
        return path.is_file() and path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
