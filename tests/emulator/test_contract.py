"""Contract tests: every route the emulator serves, every request field it reads and every
answer field it sends is one that databricks-sdk's generated service code knows (issue 16,
item 10). The backend's own calls are checked after a real apply in
tests/e2e/test_emulator_contract.py."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from bricksmith.emulator import DEFAULT_CLUSTER_ID, Emulator
from tests import sdk_contract

from .conftest import b64, notebook

EMULATOR = Path(__file__).parents[2] / "src/bricksmith/emulator"
# emulator module -> the SDK service modules whose requests it answers
SERVICES = {
    "workspace.py": ("workspace", "iam"),
    "repos.py": ("workspace",),
    "dbfs.py": ("files", "settings"),
    "volumes.py": ("files",),
    "clusters.py": ("compute",),
    "jobs.py": ("jobs",),
    "job_execution.py": ("jobs",),
}
READ = re.compile(
    r"""(?:req\.(?:arg|required|flag)|body\.get|task\.get|notebook\.get)\(\s*"(\w+)\""""
)


def services(emulator: Emulator):
    return (emulator.workspace, emulator.repos, emulator.git_credentials, emulator.dbfs,
            emulator.volumes, emulator.clusters, emulator.jobs)


def test_the_sdk_routes_are_read_from_its_generated_code():
    routes = sdk_contract.sdk_routes()
    assert ("POST", "/api/2.2/jobs/runs/submit") in routes
    assert ("PUT", "/api/2.0/fs/files{}") in routes
    assert ("PATCH", "/api/2.0/repos/{}") in routes
    assert not sdk_contract.known("GET", "/api/2.0/jobs/runs/made-up")


def test_every_route_the_emulator_serves_is_one_the_sdk_knows(tmp_path):
    emulator = Emulator(tmp_path / "ws")
    unknown = [
        f"{method} {pattern}"
        for service in services(emulator)
        for method, pattern, *_ in service.routes()
        if not sdk_contract.known(method, pattern)
    ]
    assert unknown == []


@pytest.mark.parametrize("module", sorted(SERVICES))
def test_every_request_field_the_emulator_reads_is_an_sdk_field(module):
    read = set(READ.findall((EMULATOR / module).read_text()))
    assert read, f"no fields found in {module}: the pattern is stale"
    known = set().union(*(sdk_contract.field_names(m) for m in SERVICES[module]))
    assert sorted(read - known) == []


def undeclared(value, cls, where: str) -> list[str]:
    """Keys of the answer ``value`` that the SDK dataclass ``cls`` (recursively) lacks."""
    if not dataclasses.is_dataclass(cls) or not isinstance(value, dict):
        return []
    hints = typing.get_type_hints(cls)
    wrong = []
    for key, item in value.items():
        if key not in hints:
            wrong.append(f"{where}.{key}")
            continue
        kind = hints[key]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if typing.get_origin(kind) is list or (args and typing.get_origin(args[0]) is list):
            inner = typing.get_args(args[0] if args and typing.get_origin(args[0]) is list
                                    else kind)[0]
            for i, element in enumerate(item or []):
                wrong += undeclared(element, inner, f"{where}.{key}[{i}]")
        else:
            wrong += undeclared(item, args[0] if args else kind, f"{where}.{key}")
    return wrong


def test_every_answer_field_is_an_sdk_field(w, emulator):
    from databricks.sdk.service import compute, files, jobs, settings, workspace
    from databricks.sdk.service.workspace import ImportFormat, Language

    nb = "/Users/someone@example.com/nb"
    w.workspace.import_(nb, content=b64(notebook('dbutils.notebook.exit("ok")')),
                        format=ImportFormat.SOURCE, language=Language.PYTHON)
    w.dbfs.put("/FileStore/a.txt", contents=b64("a"), overwrite=True)
    run = w.jobs.submit(run_name="r", tasks=[jobs.SubmitTask(
        task_key="t", notebook_task=jobs.NotebookTask(notebook_path=nb))]).result()
    do = w.api_client.do
    answers = [
        (do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run.run_id}), jobs.Run),
        (do("GET", "/api/2.2/jobs/runs/get-output", query={"run_id": run.tasks[0].run_id}),
         jobs.RunOutput),
        (do("GET", "/api/2.2/jobs/runs/list", query={"expand_tasks": "true"}),
         jobs.ListRunsResponse),
        (do("GET", "/api/2.1/clusters/get", query={"cluster_id": DEFAULT_CLUSTER_ID}),
         compute.ClusterDetails),
        (do("GET", "/api/2.1/clusters/list"), compute.ListClustersResponse),
        (do("GET", "/api/2.0/dbfs/get-status", query={"path": "/FileStore/a.txt"}),
         files.FileInfo),
        (do("GET", "/api/2.0/dbfs/list", query={"path": "/FileStore"}),
         files.ListStatusResponse),
        (do("GET", "/api/2.0/workspace/get-status", query={"path": nb}), workspace.ObjectInfo),
        (do("GET", "/api/2.0/workspace/list", query={"path": "/Users/someone@example.com"}),
         workspace.ListResponse),
        (do("GET", "/api/2.0/settings/types/disable_legacy_dbfs/names/default"),
         settings.DisableLegacyDbfs),
    ]
    wrong = [key for answer, cls in answers for key in undeclared(answer, cls, cls.__name__)]
    assert wrong == [], wrong
