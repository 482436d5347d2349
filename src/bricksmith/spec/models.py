"""The workflow spec as Pydantic models: the single source of truth.

``workflow.schema.json`` is generated from :class:`Workflow` (see ``spec.schema``). Extra keys
are forbidden everywhere so a typo is an error, not a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Letters, digits, '.', '_' and '-'; starts with a letter or digit; "
        "at most 64 characters (it names folders and step keys).",
    ),
]
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ParamValue = Any  # Kedro parameters: any YAML value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Project(_Model):
    """The Kedro project: where it lives, what it starts from, the parameters it commits."""

    starter: str = Field(
        default="databricks-iris",
        description="Built-in starter name (databricks-iris), a local Kedro starter "
        "(cookiecutter template) directory, or a git URL of a starter repository "
        "(cloned only when the project is created). Only used when project.path holds no "
        "Kedro project yet: an existing one is adopted as it is.",
        examples=[
            "databricks-iris",
            "../templates/my-starter",
            "https://github.com/kedro-org/kedro-starters.git",
        ],
        min_length=1,
    )
    starter_directory: str | None = Field(
        default=None,
        description="Folder of the starter inside the starter's directory or repository, as "
        "kedro new --directory (a repository holding several starters). Shorthand: "
        "starter: <directory or URL>#<folder>.",
        examples=["spaceflights-pandas"],
        min_length=1,
    )
    starter_checkout: str | None = Field(
        default=None,
        description="Tag, branch or commit of a git starter, as kedro new --checkout; "
        "default: the repository's default branch.",
        examples=["1.0.0", "main"],
        min_length=1,
    )
    path: str = Field(
        description="Folder of the Kedro project, relative to the spec file. "
        "Created from the starter when missing.",
        examples=["iris-databricks"],
        min_length=1,
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="Written where Kedro reads them and committed: each key in the parameters "
        "file of the base environment that defines it (CONF_SOURCE and config patterns from "
        "the project's settings.py), nested mappings merged key by key, comments kept; a new "
        "key in <conf>/base/parameters.yml. Removing a key restores the project's own value. "
        "Every key must be a parameter the project defines, unless allow_new_params is true.",
        examples=[{"train_fraction": 0.8}],
    )
    allow_new_params: bool = Field(
        default=False,
        description="Allow project.params keys the project's parameters do not define yet "
        "(they are added). Off: an unknown key is an error with a did-you-mean.",
    )


GitProvider = Literal[
    "gitHub", "gitHubEnterprise", "gitLab", "gitLabEnterpriseEdition", "bitbucketCloud",
    "bitbucketServer", "azureDevOpsServices", "awsCodeCommit",
]  # the Repos API's names (databricks-sdk service/workspace.py, ReposAPI.create)


class Repo(_Model):
    """The git repository of the project and the remote it is pushed to."""

    remote: str = Field(
        description="Any git URL. A local path or file:// URL is created as a bare repository "
        "when missing (the local stand-in for creating a GitHub repository).",
        examples=["../iris-databricks.git", "https://github.com/me/iris-databricks.git"],
        min_length=1,
    )
    branch: str = Field(
        default="main",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="Branch bricksmith commits to and pushes; the workspace repo checks it out.",
        examples=["main"],
    )
    token_env: str | None = Field(
        default=None,
        pattern=ENV_VAR_PATTERN,
        description="HTTPS remotes: name of the environment variable holding the token. "
        "The token itself is never written anywhere.",
        examples=["GITHUB_TOKEN"],
    )
    provider: GitProvider | None = Field(
        default=None,
        description="Databricks targets: the Git provider of the remote, as the Repos API names "
        "it. Needed when the remote's host is not github.com, gitlab.com, bitbucket.org, "
        "dev.azure.com or git-codecommit.<region>.amazonaws.com (GitHub Enterprise, GitLab "
        "self-managed, Bitbucket Server, ...): bricksmith never guesses it.",
        examples=["gitHubEnterprise"],
    )
    git_username: str | None = Field(
        default=None,
        min_length=1,
        description="Databricks targets: user name of the workspace's Git credential for the "
        "provider (required for awsCodeCommit; some providers' tokens need it).",
        examples=["me"],
    )
    git_email: str | None = Field(
        default=None,
        min_length=3,
        description="Databricks targets: e-mail of the workspace's Git credential for the "
        "provider (Databricks documents it as required for most providers).",
        examples=["me@example.com"],
    )
    author_name: str = Field(
        default="bricksmith", description="Author name of commits bricksmith makes."
    )
    author_email: str = Field(
        default="bricksmith@localhost", description="Author e-mail of commits bricksmith makes."
    )
    message: str | None = Field(
        default=None,
        description="Subject (first line) of the commits bricksmith makes when the project "
        "changed. The body always lists the changed files and, for parameters files, each "
        "changed key (old → new). Default: a subject summing up the change, e.g. "
        "'Set train_fraction 0.8 → 0.7 (bricksmith)'. Changing it alone commits nothing.",
        examples=["Tune the iris model (bricksmith)"],
    )


class LocalTarget(_Model):
    """The embedded default: workspace, DBFS and cluster emulated on this machine."""

    backend: Literal["local"] = "local"
    root: str = Field(
        default=".bricksmith/local",
        description="Folder holding the emulated workspace, DBFS and the state, "
        "relative to the spec file.",
    )
    user: str = Field(
        default="local-user",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$",
        description="The workspace user: repos land in /Workspace/Repos/<user>/<name>.",
    )
    cluster_idle_minutes: float = Field(
        default=15,
        ge=0,
        le=10000,
        description="The local cluster (a Python with Kedro and the project's libraries "
        "imported, forking a clean kernel per run) stops after this many minutes without a "
        "run, like a Databricks cluster's auto termination; destroy stops it at once. 0: no "
        "cluster is kept, every run starts a Python of its own.",
    )


class DatabricksTarget(_Model):
    """A real Databricks workspace, through databricks-sdk (auth is the SDK's)."""

    backend: Literal["databricks"]
    profile: str | None = Field(
        default=None, description="Profile in ~/.databrickscfg.", examples=["DEFAULT"]
    )
    host: str | None = Field(
        default=None,
        description="Workspace URL; else the SDK's config.",
        examples=["https://adb-1234567890123456.7.azuredatabricks.net"],
    )
    cluster_id: str | None = Field(
        default=None,
        description="All-purpose cluster for runs (started when terminated). Required "
        "unless serverless is true.",
        examples=["${env.DATABRICKS_CLUSTER_ID}", "0123-456789-abcdefgh"],
    )
    serverless: bool = Field(
        default=False,
        description="Run on serverless compute (no cluster_id): the job run gets an "
        "environment with the project's requirements. The workspace must have serverless "
        "jobs enabled; data targets must be /Volumes/... (serverless has only limited DBFS "
        "access).",
    )
    root: str = Field(
        default=".bricksmith/databricks",
        description="Local folder for this target's state, relative to the spec file.",
    )
    git_folder_parent: str | None = Field(
        default=None,
        pattern=r"^(/Repos/[^/]+|(/Workspace)?/(Users|Shared)(/[^/]+)+)$",
        description="Workspace folder holding the project's Git folder (created when "
        "missing); {user} stands for the current user. Default /Repos/{user}; Git folders may "
        "also live under /Workspace/Users/{user}/... or /Workspace/Shared/...",
        examples=["/Workspace/Users/{user}/git", "/Repos/team"],
    )
    discard_git_folder_edits: bool = Field(
        default=False,
        description="Edits made in the workspace's Git folder (or to the deployed notebook) "
        "stop apply (job runs would use them instead of the pushed commit); `bricksmith pull` "
        "brings them home. Set true to have every apply discard them, as `apply "
        "--discard-workspace-edits` does, after keeping a copy of each edited file under "
        "<root>/workspace-edits/<UTC time>/.",
    )


Target = Annotated[LocalTarget | DatabricksTarget, Field(discriminator="backend")]


class DataSync(_Model):
    """A folder of the project copied to a Unity Catalog volume (or DBFS, where the
    workspace still has a DBFS root)."""

    source: str = Field(
        description="Folder inside the project, relative to the project.",
        examples=["data"],
        min_length=1,
    )
    target: str = Field(
        pattern=r"^(dbfs:/|/Volumes/)",
        description="dbfs:/... or /Volumes/<catalog>/<schema>/<volume>/...",
        examples=["/Volumes/main/default/iris-databricks/data",
                  "dbfs:/FileStore/iris-databricks/data"],
    )


class Run(_Model):
    """One execution of the project notebook."""

    # A schema-only example: the missing-key hint stays "add `name:`".
    name: Name = Field(json_schema_extra={"examples": ["baseline", "split-70"]})
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="Runtime parameters (kedro --params), not committed. Every key must be a "
        "parameter the project (or project.params) defines, unless allow_new_params is true.",
        examples=[{"train_fraction": 0.7}],
    )
    allow_new_params: bool = Field(
        default=False,
        description="Allow this run's params to hold keys the project's parameters do not "
        "define. Off: an unknown key is an error with a did-you-mean.",
    )
    timeout_minutes: float = Field(default=60, gt=0, description="The run fails after this.")


class MLflow(_Model):
    """Log each run's effective parameters and metrics to MLflow (one MLflow run per result)."""

    enabled: bool = Field(
        default=True, description="Set false to stop logging without removing the section."
    )
    experiment: str | None = Field(
        default=None,
        min_length=1,
        description="MLflow experiment. Default: the workflow name on local targets, "
        "/Users/<user>/<workflow name> on Databricks targets.",
        examples=["iris-databricks", "/Users/me@example.com/iris-databricks"],
    )
    tracking_uri: str | None = Field(
        default=None,
        min_length=1,
        description="MLflow tracking URI. Default: the file store <target root>/mlruns on local "
        "targets, the workspace's MLflow ('databricks' or 'databricks://<profile>') on "
        "Databricks targets. Never put a password or token in it.",
        examples=["databricks", "sqlite:///mlflow.db", "http://127.0.0.1:5000"],
    )

    @field_validator("tracking_uri")
    @classmethod
    def _no_credentials(cls, uri: str | None) -> str | None:
        if uri and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@", uri):
            raise PydanticCustomError(
                "secret_in_uri",
                "the URI contains a password or token; remove it: MLflow reads "
                "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN "
                "from the environment",
            )
        return uri


def _default_targets() -> dict[str, LocalTarget]:
    return {"local": LocalTarget()}


class Workflow(_Model):
    """A bricksmith workflow: one Kedro project, its git repo, targets, data and runs."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, title="bricksmith workflow", json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema"}
    )

    version: Literal[1] = Field(description="Spec format version. Only 1 exists.")
    name: Name = Field(
        description="Name of the workflow; also the workspace repo's name.",
        examples=["iris-databricks"],
    )
    variables: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Values for ${var.NAME}; override with --var NAME=VALUE.",
        examples=[{"github_user": "me"}],
    )
    project: Project
    repo: Repo
    target: str = Field(
        default="local",
        description="Default target (a key of targets); --target picks another.",
        examples=["local"],
    )
    targets: dict[Name, Target] = Field(
        default_factory=_default_targets,
        description="Where the workflow is applied, by name. Each target has a backend: "
        "'local' (workspace, DBFS and cluster emulated on disk) or 'databricks'.",
        examples=[{"local": {"backend": "local"}, "dev": {"backend": "databricks"}}],
    )
    data: list[DataSync] = Field(
        default_factory=list,
        description="Folders of the project copied to DBFS or a Unity Catalog volume.",
        examples=[[{"source": "data", "target": "/Volumes/main/default/iris-databricks/data"}]],
    )
    runs: list[Run] = Field(
        default_factory=list,
        description="Executions of the project notebook, each with its own runtime parameters.",
        examples=[[{"name": "baseline"}, {"name": "split-70", "params": {"train_fraction": 0.7}}]],
    )
    mlflow: MLflow | None = Field(
        default=None,
        description="Log every run's parameters and metrics to MLflow (off when omitted).",
        examples=[{"experiment": "iris-databricks"}],
    )

    @field_validator("version", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        # Literal[1] takes True (True == 1), which the schema refuses
        if isinstance(value, bool):
            raise PydanticCustomError("literal_error", "Input should be 1")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Workflow:
        # A safety net for workflows built in code. load_spec() reports these (and more) with
        # exact key paths in spec.checks and drops these two error types.
        if self.target not in self.targets:
            known = ", ".join(sorted(self.targets)) or "none"
            raise PydanticCustomError(
                "unknown_target",
                "target '{target}' is not defined in targets (defined: {known})",
                {"target": self.target, "known": known},
            )
        seen: set[str] = set()
        for run in self.runs:
            if run.name in seen:
                raise PydanticCustomError(
                    "duplicate_run_name",
                    "run name '{name}' is used twice; run names must be unique",
                    {"name": run.name},
                )
            seen.add(run.name)
        return self
