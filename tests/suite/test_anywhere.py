"""A student checks their work anywhere: a console that cannot print ✅, a
path with spaces and accents, plain ``pytest`` (what IDE test panels run) in
the student template, and a GitHub Codespace from its dev container.

The template is written by the release's own ``write_trees`` (the files a
release ships, without its verification runs). The dev container's creation
command runs for real, in a fresh virtual environment, with the torch index
swapped for this machine's pip configuration (the index is not reachable
offline); everything else is the command as Codespaces runs it. The virtual
environment sees this interpreter's packages (``--system-site-packages``):
installing torch and transformers afresh takes about five minutes on the
suite's shared two cores, and pip still resolves every pin of
``requirements.txt`` against it, so a pin nothing satisfies fails here.

    pytest tests/suite/test_anywhere.py -q
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from grading.instructor.release import write_trees
from grading.report import text
from grading.report.model import Results

from .conftest import ROOT, grading_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def clean_env(**extra) -> dict[str, str]:
    """The environment a student's shell has: none of this suite's pytest or grading settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GRADING_")) and k != "PYTHONPATH"}
    return env | extra


# -- a console that cannot print the marks -------------------------------------------------


def test_check_on_a_cp1252_console_prints_plain_marks():
    proc = subprocess.run(
        [sys.executable, "-m", "grading", "check", "1"],
        cwd=ROOT, env=clean_env(PYTHONIOENCODING="cp1252"), capture_output=True, timeout=600,
    )  # fmt: skip
    out, err = proc.stdout.decode("cp1252"), proc.stderr.decode("cp1252")
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in out + err and "UnicodeEncodeError" not in out + err
    lines = out.splitlines()
    assert lines[0] == "Running tests for Step 01: Create Model Configuration..."
    assert "[FAIL] vocab_size is incorrect: expected match with Hugging Face model configuration, got None" in lines
    assert sum(line.startswith("[FAIL] ") for line in lines) == 9
    assert lines[-1] == "0/9 checks passed for step 01"


def test_run_summary_and_other_characters_on_a_console_without_them():
    results = Results.from_json(json.loads((FIXTURES / "results_partial.json").read_text()))
    for encoding, line in (("cp1252", "a [PASS] … -> · : : line"), ("ascii", "a [PASS] ... -> - : : line")):
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding=encoding)
        marks = text.marks_for(stream)
        assert marks == text.PLAIN_MARKS
        text.safe_console(stream)
        print(text.run_summary(results, marks), file=stream)
        print("a ✅ … → · :\u200b: line", file=stream)  # what messages may hold (a neutralized "::" too)
        stream.flush()
        printed = raw.getvalue().decode(encoding).splitlines()
        assert any(re.match(r"\[(PASS|PART|FAIL|TODO)\] Step 0\d ", line) for line in printed), printed
        assert printed[-1] == line
    assert text.marks_for(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")) == text.MARKS


# -- a submission path with spaces and letters beyond ASCII --------------------------------


@pytest.mark.parametrize("kind", ["fork", "spawn"])
def test_a_path_with_spaces_and_accents(tmp_path, kind):
    folder = tmp_path / "Mi Tarea ñ" / "assignments"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "step_01.py", folder / "step_01.py")
    run = grading_cli("check", "1", "--submission", str(folder), env={"GRADING_WORKERS": kind})
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1].startswith("9/9 checks passed for step 01")

    (folder / "step_01.py").write_text("raise RuntimeError('ñ no')\n", encoding="utf-8")
    run = grading_cli("check", "1", "--submission", str(folder), env={"GRADING_WORKERS": kind})
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    assert "importing step_01.py raised RuntimeError: ñ no (step_01.py, line 1)" in run.stdout


def test_a_missing_folder_is_named_as_typed():
    typed = "C:/Users/Ana/Mi Tarea ñ/assignments"
    run = grading_cli("check", "1", "--submission", typed)
    assert run.returncode == 2
    assert run.stderr.strip() == f"error: submission folder '{typed}' does not exist or is not a folder"


# -- plain pytest in the student template --------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release")
    write_trees(ROOT, out)
    return out / "template"


def plain_pytest(where: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``pytest ARGS`` as a student (or VS Code) runs it: in the repository, no extra configuration."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=where, env=clean_env(PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def visible_titles(solution_run) -> list[tuple[str, str]]:
    """(step, title) of every visible check, in order: what ``check`` prints
    for the solutions, from the session's grading of them."""
    titles = [(t["extra_data"]["step"], t["extra_data"]["title"]) for t in solution_run.results["tests"] if t["visibility"] == "visible"]
    assert titles and all(t["status"] == "passed" for t in solution_run.results["tests"])
    return titles


def test_collect_only_lists_every_visible_check_by_title(template, visible_titles):
    proc = plain_pytest(template, "--collect-only", "-q")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = [line for line in proc.stdout.splitlines() if line.startswith("tests/visible/")]
    assert len(collected) == len(visible_titles), proc.stdout[-2000:]
    for step, title in visible_titles:
        assert any(line.startswith(f"tests/visible/test_step_{step}.py::") and line.endswith(title.replace("::", ": ")) for line in collected), title
    assert "error" not in proc.stdout.splitlines()[-1]


def test_plain_pytest_fails_the_starters_with_messages_and_hints(template):
    proc = plain_pytest(template, "-q", "-p", "no:cacheprovider")
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:] + proc.stderr[-3000:]
    summary = out.strip().splitlines()[-1]
    assert re.fullmatch(r"=* ?\d+ failed in [\d.]+s( \([\d:]+\))? ?=*", summary), summary
    assert "error" not in summary and "passed" not in summary
    assert "Traceback" not in out and "def test_" not in out  # no wall of traceback, no test source
    header = "_ Step 01: vocab_size is set correctly _"
    assert header in out, out[:3000]
    body = out[out.index(header) :].split("\n_", 1)[0]
    assert "vocab_size is incorrect: expected match with Hugging Face model configuration, got None" in body
    assert "Hint: Compare with `transformers.GPT2Config()`" in body


def test_plain_pytest_passes_the_solutions_and_v_names_each_check(template, tmp_path, visible_titles):
    repo = tmp_path / "repo"
    shutil.copytree(template, repo)
    for solution in (ROOT / "solutions").glob("step_*.py"):
        shutil.copy(solution, repo / "assignments" / solution.name)
    proc = plain_pytest(repo, "-v", "-p", "no:cacheprovider")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", proc.stdout.strip().splitlines()[-1])
    for step, title in visible_titles:
        assert f"tests/visible/test_step_{step}.py::{title} PASSED" in proc.stdout, title
    one = plain_pytest(repo, "-q", "-p", "no:cacheprovider", "tests/visible/test_step_01.py::vocab_size is set correctly")
    assert one.returncode == 0 and re.search(r"\b1 passed\b", one.stdout), one.stdout[-2000:]


def test_the_judge_ignores_the_templates_conftest(template, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(template, repo)
    (repo / "tests" / "conftest.py").write_text("raise SystemExit('a conftest the judge must never load')\n")
    proc = subprocess.run([sys.executable, "-m", "grading", "check", "1"], cwd=repo, env=clean_env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0/9 checks passed for step 01"
    from grading.engine import judge

    command = judge.judge_command(repo / "assignments", [], 5, judge.Limits(), set())
    assert "--noconftest" in command and command[command.index("-c") + 1].endswith("judge.ini")


def test_the_conftest_is_inert_in_the_source_repository():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/suite/test_engine.py"], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "tests/suite/test_engine.py::test_head_and_tail" in proc.stdout


# -- the Codespace: .devcontainer/devcontainer.json ----------------------------------------

# Every top-level property of the dev container specification
# (containers.dev/implementors/json_reference), for image, Dockerfile and
# Compose based containers.
DEV_CONTAINER_KEYS = {
    "$schema", "name", "image", "build", "dockerComposeFile", "service", "runServices", "workspaceFolder",
    "workspaceMount", "shutdownAction", "overrideCommand", "initializeCommand", "onCreateCommand",
    "updateContentCommand", "postCreateCommand", "postStartCommand", "postAttachCommand", "waitFor",
    "forwardPorts", "portsAttributes", "otherPortsAttributes", "appPort", "containerEnv", "remoteEnv",
    "containerUser", "remoteUser", "updateRemoteUserUID", "userEnvProbe", "mounts", "runArgs", "features",
    "overrideFeatureInstallOrder", "customizations", "hostRequirements", "privileged", "init", "capAdd",
    "securityOpt", "secrets",
}  # fmt: skip
TORCH_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


@pytest.fixture(scope="module")
def devcontainer() -> dict:
    return json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())


def test_devcontainer_uses_only_keys_of_the_spec(devcontainer, template):
    assert set(devcontainer) <= DEV_CONTAINER_KEYS, set(devcontainer) - DEV_CONTAINER_KEYS
    assert re.fullmatch(r"mcr\.microsoft\.com/devcontainers/python:[\w.-]*3\.11[\w.-]*", devcontainer["image"])
    assert "ms-python.python" in devcontainer["customizations"]["vscode"]["extensions"]
    assert (template / ".devcontainer" / "devcontainer.json").read_bytes() == (ROOT / ".devcontainer" / "devcontainer.json").read_bytes()


def test_devcontainer_installs_cpu_torch_from_the_pin_and_says_where_to_start(devcontainer):
    create = devcontainer["postCreateCommand"]
    assert TORCH_INDEX in create and "requirements.txt" in create
    assert not re.search(r"torch==\d", create), "the torch version is read from requirements.txt, not repeated"
    welcome = devcontainer["postAttachCommand"] + " ".join(devcontainer["customizations"]["codespaces"]["openFiles"])
    assert "assignments/step_01.md" in welcome and "python -m grading check 1" in welcome


def test_devcontainer_creation_command_sets_up_a_working_environment(devcontainer, template, tmp_path):
    """The creation command, run in a fresh virtual environment from the
    template's folder, with the torch index swapped for this machine's pip
    configuration; then ``python -m grading check 1`` runs there."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env_dir)  # see the module's docstring
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    command = devcontainer["postCreateCommand"].replace(TORCH_INDEX, "")
    env = clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(env_dir), PIP_NO_INPUT="1")
    install = subprocess.run(command, shell=True, cwd=template, env=env, capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    check = subprocess.run(["python", "-m", "grading", "check", "1"], cwd=template, env=env, capture_output=True, text=True, timeout=600)
    assert check.returncode == 1, check.stdout[-2000:] + check.stderr[-2000:]
    assert check.stdout.strip().splitlines()[-1] == "0/9 checks passed for step 01"
    probe = "import sys, importlib.metadata; print(sys.prefix, importlib.metadata.version('torch'))"  # check 1 imported it
    where = subprocess.run(["python", "-c", probe], env=env, capture_output=True, text=True, timeout=300).stdout.split()
    assert Path(where[0]) == env_dir and where[1].startswith("2.13.0")
