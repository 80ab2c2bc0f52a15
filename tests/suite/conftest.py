"""Shared helpers of the project's own suite: run the grader's CLI the way a
student, an instructor or the workflow does, and build submissions."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from grading.config import Limits
from grading.instructor.cli_process import run_cli

ROOT = Path(__file__).resolve().parents[2]

# Limits for submissions that hang, crash or loop: a call gives up after 3 s,
# and a step after two such calls (its running time is used up), so each hang
# costs the suite seconds of a core, not the default minutes.
QUICK_LIMITS = Limits(call_timeout=3.0, test_timeout=20.0, step_timeout=6.0, judge_timeout=180.0)


@dataclasses.dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    results: dict | None


def grading_cli(*args: str, json_path: Path | None = None, timeout: float = 300, env: dict | None = None) -> CliRun:
    """Run ``python -m grading ARGS`` from the repository root."""
    command = [*args, "--json", str(json_path)] if json_path is not None else list(args)
    proc = run_cli(command, cwd=ROOT, timeout=timeout, env={**os.environ, **(env or {})})
    assert proc.returncode is not None, f"python -m grading {' '.join(args)} did not finish within {timeout:g} s"
    results = json.loads(json_path.read_text()) if json_path is not None and json_path.exists() else None
    return CliRun(proc.returncode, proc.stdout, proc.stderr, results)


def fresh_python(code: str) -> str:
    """What ``python -c CODE`` prints, run from the repository root: a fresh
    interpreter, for what an import loads."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def make_submission(folder: Path, replace: dict[str, str | None] | None = None, base: Path = ROOT / "solutions") -> Path:
    """Copy ``base``'s step files into ``folder``; ``replace`` maps a file name
    to new text (or None to leave the file out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(base.glob("step_*.py")):
        shutil.copy(source, folder / source.name)
    for name, text in (replace or {}).items():
        target = folder / name
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.write_text(text)
    return folder


def step_scores(results: dict) -> dict[str, float]:
    return {step["id"]: step["score"] for step in results["steps"]}


# The suite runs in two pytest-xdist processes (pytest.ini), each given whole
# test files (a file's tests share its module fixtures) in the order they are
# collected: the longest files first, so that neither process ends alone on one.
_LONGEST_FIRST = ("test_workflow_e2e", "test_spawn_hostile", "test_spawn")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: _LONGEST_FIRST.index(item.path.stem) if item.path.stem in _LONGEST_FIRST else len(_LONGEST_FIRST))


@pytest.fixture(scope="session")
def solution_run(tmp_path_factory, worker_id) -> CliRun:
    """The reference solutions graded once for the whole run: by the first
    of the suite's processes that asks, the others reading its run (the
    pattern pytest-xdist's documentation gives, with a file lock)."""
    shared = tmp_path_factory.getbasetemp()
    shared = shared if worker_id == "master" else shared.parent  # the folder the processes share
    saved = shared / "solution_run.json"
    with FileLock(f"{saved}.lock"):
        if saved.is_file():
            return CliRun(**json.loads(saved.read_text()))
        out = tmp_path_factory.mktemp("solutions") / "results.json"
        run = grading_cli("run", "--submission", "solutions", json_path=out)
        assert run.returncode == 0, run.stderr
        saved.write_text(json.dumps(dataclasses.asdict(run)))
        return run


@pytest.fixture(scope="session")
def honest_scores(solution_run) -> dict[str, float]:
    return step_scores(solution_run.results)


@pytest.fixture(scope="session")
def warm_grader():
    """Grades a submission (``warm_grader(folder, steps)`` → results JSON) with
    a judge forked from one warm process for the whole session: torch and
    transformers are imported once, not once per grading."""
    from grading.config import Limits
    from grading.instructor.batch import WarmGrader

    with WarmGrader(Limits().judge_timeout) as grader:
        yield grader
