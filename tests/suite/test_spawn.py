"""Spawned workers give the same grades as forked ones, check by check.

Windows and macOS start each step's worker as a fresh ``python`` (spawn);
Linux forks it from the judge. ``GRADING_WORKERS=spawn`` makes Linux spawn
too, so this module grades, in both kinds, and compares every check's score
and status by name:

* the solutions (100/100) and the starters (0);
* the mutation catalogue, in the batches ``test_mutants`` grades (mutant k of
  every step in one submission), each graded on its mutated steps;
* the adversarial corpus (``test_adversarial``), every case, with its own
  limits, planted files and environment.

The fork side of the solutions is the session's ``solution_run``; the rest
is graded here, fork and spawn one after the other. A spawned worker imports
torch (and, for the hidden checks, transformers) itself, so this module is
one of the suite's slow ones.

    pytest tests/suite/test_spawn.py -q
"""

from __future__ import annotations

import pytest

from grading.cli import grade as grade_results
from grading.config import GRADER_ROOT, Limits
from grading.engine import judge as runner
from tests.suite import test_adversarial as adversarial
from tests.suite.mutation import make_submission as make_mutant
from tests.suite.test_mutants import BATCHES, batch

from .conftest import grading_cli


def checks(results: dict) -> dict[tuple[str, str], tuple[float, str]]:
    """Each check's (score, status), keyed by its name (and node id, which
    keeps a visible and a hidden check of one title apart)."""
    return {(t["name"], t["extra_data"]["nodeid"]): (t["score"], t["status"]) for t in results["tests"]}


def assert_same_grades(forked: dict, spawned: dict, what: str):
    a, b = checks(forked), checks(spawned)
    assert a, f"{what}: no checks were graded"
    assert sorted(a) == sorted(b), f"{what}: different checks: {sorted(set(a) ^ set(b))[:5]}"
    differ = {name: {"fork": a[key], "spawn": b[key]} for key in a if a[key] != b[key] for name in [key[0]]}
    assert not differ, f"{what}: {len(differ)} of {len(a)} checks graded differently: {dict(list(differ.items())[:5])}"
    assert forked["score"] == spawned["score"], what
    assert (forked["workers"], spawned["workers"]) == ("fork", "spawn"), what


def graded(monkeypatch, kind: str, folder, **options) -> dict:
    with monkeypatch.context() as env:
        env.setenv("GRADING_WORKERS", kind)
        return grade_results(folder, **options).to_json()


# -- the solutions and the starters ---------------------------------------------------------


def test_solutions_full_marks_and_same_grades(solution_run, tmp_path):
    run = grading_cli("run", "--submission", "solutions", json_path=tmp_path / "r.json", env={"GRADING_WORKERS": "spawn"})
    assert run.returncode == 0, run.stderr[-2000:]
    spawned = run.results
    assert spawned["score"] == 100 and spawned["workers"] == "spawn"
    assert "::notice title=Autograding complete::Points 100/100" in run.stdout
    assert_same_grades(solution_run.results, spawned, "solutions")


def test_starters_zero_and_same_grades(monkeypatch):
    starters = GRADER_ROOT / "assignments"
    forked = graded(monkeypatch, "fork", starters, include_hidden=True, steps=None, limits=Limits.from_env())
    spawned = graded(monkeypatch, "spawn", starters, include_hidden=True, steps=None, limits=Limits.from_env())
    assert spawned["score"] == 0 and all(t["status"] == "failed" for t in spawned["tests"])
    assert_same_grades(forked, spawned, "starters")


def test_results_say_how_workers_started_and_what_confined_them(solution_run):
    from grading.engine.confinement import APPLIED

    results = solution_run.results
    assert results["workers"] == "fork"
    assert results["confinement"] and set(results["confinement"]) <= set(APPLIED)
    assert {"process-group", "only-its-pipes", "output-to-file", "output-cap", "memory-cap"} <= set(results["confinement"])


# -- the mutation catalogue -----------------------------------------------------------------


@pytest.mark.parametrize("k", range(BATCHES), ids=[f"batch-{k}" for k in range(BATCHES)])
def test_mutant_batch_same_grades(tmp_path, monkeypatch, k):
    mutants = batch(k)
    submission = make_mutant(tmp_path / "sub", mutants)
    steps = sorted(mutants)
    forked = graded(monkeypatch, "fork", submission, include_hidden=True, steps=steps, limits=Limits.from_env())
    spawned = graded(monkeypatch, "spawn", submission, include_hidden=True, steps=steps, limits=Limits.from_env())
    assert_same_grades(forked, spawned, f"batch {k} ({', '.join(f'{s}: {m.name}' for s, m in mutants.items())})")


# -- the adversarial corpus -----------------------------------------------------------------


@pytest.mark.parametrize("case", adversarial.CASES, ids=[adversarial._id(c) for c in adversarial.CASES])
def test_hostile_submission_same_grades(case, tmp_path, monkeypatch):
    if not adversarial._available((case.step, *case.others)):
        pytest.skip("the steps this case needs have no tests or solution yet")
    env = dict(case.env)
    results = {}
    for kind in ("fork", "spawn"):
        folder = adversarial.make_submission(tmp_path / kind / "submission", case)
        extra = dict(env, GRADING_WORKERS=kind)
        if case.planted:
            extra |= {k: v.format(submission=folder) for k, v in adversarial._PLANTED_ENV.items()}
            if case.cli:
                extra = {k: v for k, v in extra.items() if not k.startswith("PYTHON")}
        if case.cli:
            results[kind], stdout, stderr = adversarial._run_cli(folder, extra, tmp_path / kind)
            adversarial.assert_only_grader_commands(stdout, stderr, results[kind])
            continue
        with monkeypatch.context() as patch:
            for key, value in extra.items():
                patch.setenv(key, value)
            if extra.get("GRADING_LANDLOCK") == "0":
                patch.setattr(runner, "grader_files_state", lambda: {})
            results[kind] = grade_results(folder, include_hidden=True, steps=[case.step, *case.others], limits=adversarial.LIMITS).to_json()
    assert_same_grades(results["fork"], results["spawn"], adversarial._id(case))
    adversarial._no_process_left()


def test_an_unknown_worker_kind_is_one_clear_line():
    run = grading_cli("check", "1", env={"GRADING_WORKERS": "thread"})
    assert run.returncode == 2
    assert run.stderr.strip() == "error: GRADING_WORKERS is 'thread'; it can be fork or spawn"
