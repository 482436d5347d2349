import json

import pytest
import yaml

from bricksmith.errors import UsageError
from bricksmith.init import (
    SCHEMA_FILE,
    SPEC_FILE,
    Answers,
    ask,
    default_name,
    make_answers,
    render_spec,
    write_spec,
)
from bricksmith.spec import load_spec, render_schema

ENV = {"DATABRICKS_CLUSTER_ID": "0123-456789-abcdef"}


def test_non_interactive_local_spec_validates(tmp_path):
    written = write_spec(tmp_path, make_answers(name="demo"))
    assert written == [tmp_path / SPEC_FILE, tmp_path / SCHEMA_FILE]
    wf = load_spec(tmp_path / SPEC_FILE, environ={}).workflow
    assert (wf.name, wf.project.path, wf.project.starter) == ("demo", "demo", "databricks-iris")
    assert (wf.target, list(wf.targets), wf.targets["local"].backend) == (
        "local",
        ["local"],
        "local",
    )
    assert wf.repo.remote == "demo.git" and wf.repo.token_env is None
    assert wf.project.params == {"train_fraction": 0.8}
    assert [r.name for r in wf.runs] == ["baseline", "split-70"]
    assert wf.runs[1].params == {"train_fraction": 0.7}
    assert wf.data[0].target == "dbfs:/FileStore/demo/data"


def test_databricks_spec_validates_and_keeps_a_local_target(tmp_path):
    write_spec(tmp_path, make_answers(name="demo", target="databricks"))
    loaded = load_spec(tmp_path / SPEC_FILE, environ=ENV)
    wf = loaded.workflow
    assert wf.target == "databricks" and set(wf.targets) == {"local", "databricks"}
    dbx = wf.targets["databricks"]
    assert (dbx.backend, dbx.profile, dbx.cluster_id) == (
        "databricks",
        "DEFAULT",
        ENV["DATABRICKS_CLUSTER_ID"],
    )
    assert wf.repo.remote == "https://github.com/your-github-user/demo.git"
    assert wf.repo.token_env == "GITHUB_TOKEN"
    text = (tmp_path / SPEC_FILE).read_text()
    assert "cluster_id: ${env.DATABRICKS_CLUSTER_ID}" in text
    # Unity Catalog volume first: new accounts have no DBFS root (issue 16.1)
    assert wf.data[0].target == "/Volumes/main/default/demo/data"
    assert "CREATE VOLUME main.default.demo" in text and "# serverless: true" in text
    gh = load_spec(tmp_path / SPEC_FILE, environ=ENV, variables={"github_user": "me"})
    assert gh.workflow.repo.remote == "https://github.com/me/demo.git"


def test_schema_is_written_beside_the_spec_and_referenced(tmp_path):
    write_spec(tmp_path, make_answers(name="demo"))
    first = (tmp_path / SPEC_FILE).read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema=./{SCHEMA_FILE}"
    ref = first.split("$schema=", 1)[1]
    schema = tmp_path / ref
    assert schema.is_file() and schema.read_text() == render_schema()
    assert json.loads(schema.read_text())["title"] == "bricksmith workflow"


def test_every_section_is_explained():
    lines = render_spec(make_answers(name="demo", target="databricks")).splitlines()
    explained = (
        {"version", "name", "variables", "project", "starter", "path", "params", "repo"}
        | {"remote", "branch", "token_env", "target", "targets", "local", "root", "databricks"}
        | {"profile", "cluster_id", "data", "source", "runs", "timeout_minutes"}
    )
    seen = set()
    for i, line in enumerate(lines):
        key = line.split(":", 1)[0].strip(" -")
        if line.startswith("#") or key not in explained:
            continue
        seen.add(key)
        assert "  # " in line or lines[i - 1].startswith("# "), line
    assert seen == explained
    assert max(len(line) for line in lines) <= 100


def test_other_starters_and_remotes_are_kept_verbatim_and_quoted(tmp_path):
    answers = make_answers(
        name="123",
        starter="https://github.com/me/starter.git#sub",
        remote="git@github.com:me/x.git",
    )
    write_spec(tmp_path, answers)
    wf = load_spec(tmp_path / SPEC_FILE, environ={}).workflow
    assert wf.name == "123" and wf.project.path == "123"
    assert wf.project.starter == "https://github.com/me/starter.git#sub"
    assert wf.repo.remote == "git@github.com:me/x.git" and wf.project.params == {}
    assert [r.name for r in wf.runs] == ["baseline", "variant"]


def test_render_is_pure_and_deterministic():
    answers = Answers(name="demo")
    assert render_spec(answers) == render_spec(answers)
    assert yaml.safe_load(render_spec(answers))["name"] == "demo"


def test_refuses_to_overwrite_without_force(tmp_path):
    spec = tmp_path / SPEC_FILE
    spec.write_text("version: 1\n# mine\n")
    with pytest.raises(UsageError, match="already exists; nothing was written") as caught:
        write_spec(tmp_path, make_answers(name="demo"))
    assert "--force" in caught.value.hint
    assert spec.read_text() == "version: 1\n# mine\n"
    assert not (tmp_path / SCHEMA_FILE).exists()
    write_spec(tmp_path, make_answers(name="demo"), force=True)
    assert load_spec(spec, environ={}).workflow.name == "demo"


def test_refuses_a_foreign_schema_file_too(tmp_path):
    (tmp_path / SCHEMA_FILE).write_text("{}\n")
    with pytest.raises(UsageError, match=SCHEMA_FILE):
        write_spec(tmp_path, make_answers(name="demo"))
    assert not (tmp_path / SPEC_FILE).exists()


def test_same_answers_twice_is_fine_and_creates_the_folder(tmp_path):
    folder = tmp_path / "new" / "project"
    write_spec(folder, make_answers(name="demo"))
    write_spec(folder, make_answers(name="demo"))
    assert sorted(p.name for p in folder.iterdir()) == [SCHEMA_FILE, SPEC_FILE]


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        ({"name": "bad name"}, "--name 'bad name': not a valid workflow name"),
        ({"name": "-dash"}, "not a valid workflow name"),
        ({"name": "x" * 65}, "not a valid workflow name"),
        ({"name": "ok", "target": "aws"}, "--target 'aws': not a backend"),
        ({"name": "ok", "starter": " "}, "--starter '': the starter is empty"),
        ({"name": "ok", "remote": "a\nb"}, "one line"),
    ],
)
def test_bad_flags_give_a_clear_error(flags, match):
    with pytest.raises(UsageError, match=match) as caught:
        make_answers(**flags)
    assert caught.value.hint and "e.g. --" in caught.value.hint


def test_bad_name_hint_explains_the_rules():
    with pytest.raises(UsageError) as caught:
        make_answers(name="bad/name")
    assert "letters, digits" in caught.value.hint.lower() and "64" in caught.value.hint


class FakePrompt:
    """Answers questions in order; records (question, default) pairs."""

    def __init__(self, *answers):
        self.answers, self.asked = list(answers), []

    def __call__(self, question, default):
        self.asked.append((question, default))
        return self.answers.pop(0)


def test_prompts_take_answers_and_defaults(tmp_path):
    prompt = FakePrompt("my-kedro", "", "databricks", "")
    answers = ask(prompt, {"name": default_name(tmp_path)})
    remote = "https://github.com/${var.github_user}/my-kedro.git"
    assert answers == Answers(name="my-kedro", target="databricks", remote=remote)
    assert [q for q, _ in prompt.asked] == [
        "Workflow name",
        "Kedro starter",
        "Default target (local/databricks)",
        "Git remote",
    ]
    defaults = [d for _, d in prompt.asked]
    assert defaults[1:3] == ["databricks-iris", "local"]
    assert defaults[3] == remote
    write_spec(tmp_path, answers)
    assert load_spec(tmp_path / SPEC_FILE, environ=ENV).workflow.name == "my-kedro"


def test_prompts_default_to_flags():
    prompt = FakePrompt("", "", "", "")
    flags = {
        "name": "flagged",
        "starter": "databricks-iris",
        "target": "local",
        "remote": "../up.git",
    }
    assert ask(prompt, flags) == Answers(name="flagged", remote="../up.git")


def test_a_bad_answer_is_asked_again_with_the_reason():
    prompt = FakePrompt("bad name", "good", "", "cloud", "local", "")
    assert ask(prompt, {}).name == "good"
    second = prompt.asked[1][0]
    assert second.startswith("'bad name': not a valid workflow name")
    assert "letters" in second.lower()
    assert prompt.asked[1][1] == "my-project"
    assert "'cloud': not a backend" in prompt.asked[4][0]


def test_gives_up_after_three_bad_answers():
    with pytest.raises(UsageError, match="no valid answer to 'Workflow name'") as caught:
        ask(FakePrompt("a b", "c d", "e f"), {})
    assert "--non-interactive" in caught.value.hint


def test_default_name_is_the_folder_when_valid(tmp_path):
    good = tmp_path / "iris-demo"
    good.mkdir()
    bad = tmp_path / "has space"
    bad.mkdir()
    assert default_name(good) == "iris-demo" and default_name(bad) == "my-project"


def test_a_spec_that_would_not_validate_is_not_written(tmp_path):
    folder = tmp_path / "new"
    answers = make_answers(name="demo", starter="../no-such-starter", remote=None, target=None)
    with pytest.raises(UsageError, match="does not validate: project.starter") as caught:
        write_spec(folder, answers)
    assert "nothing was written" in caught.value.message
    assert not folder.exists()  # not even the folder it would have created


def test_a_volume_name_is_made_of_letters_digits_and_underscores(tmp_path):
    write_spec(tmp_path, make_answers(name="iris-Databricks", target="databricks"))
    wf = load_spec(tmp_path / SPEC_FILE, environ=ENV).workflow
    assert wf.data[0].target == "/Volumes/main/default/iris_databricks/data"


def test_the_readme_names_the_prompts_in_the_order_init_asks_them():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    sentence = " ".join(readme.split("`init` without `--non-interactive` asks", 1)[1]
                        .split(";", 1)[0].split())
    prompt = FakePrompt("my-kedro", "", "", "")
    ask(prompt, {})
    asked = [q.split(" (")[0].lower() for q, _ in prompt.asked]
    assert asked == ["workflow name", "kedro starter", "default target", "git remote"]
    places = [sentence.lower().index(q) for q in asked]
    assert places == sorted(places), sentence
