"""The mutation catalogue proves the step checks can fail: every catalogued
mistake (tests/suite/mutants/step_NN.py) must lose points in its own step.

Grading is per step and isolated (each step's worker imports only that step's
file; earlier steps are reference modules), so mistakes in *different* steps
cannot affect each other's scores. That lets one grading run carry one
mutant of every step at once: batch k holds mutant k of each step. In each
batch, every mutated step must lose points and every untouched step must
keep exactly its honest score, which is the "no earlier step" guarantee. The
single-mistake runs at the end check the isolation itself.
"""

from __future__ import annotations

import pytest

from grading.config import STEPS_BY_ID

from .conftest import ROOT, grading_cli, step_scores
from tests.suite.mutation import Mutant, catalogue, make_submission

MUTANTS = catalogue("MUTANTS")
EQUIVALENT = catalogue("EQUIVALENT")
BATCHES = max((len(m) for m in MUTANTS.values()), default=0)
SOLVED_STEPS = sorted(p.stem[len("step_") :] for p in (ROOT / "solutions").glob("step_*.py"))


def batch(k: int) -> dict[str, Mutant]:
    return {step: mutants[k] for step, mutants in MUTANTS.items() if len(mutants) > k}


def test_every_solved_step_has_at_least_four_mutants():
    short = {step: len(MUTANTS.get(step, [])) for step in SOLVED_STEPS if len(MUTANTS.get(step, [])) < 4}
    assert not short, f"steps with fewer than 4 catalogued mistakes: {short}"


def test_every_mutant_applies_to_its_solution():
    for step, mutants in {**MUTANTS}.items():
        source = (ROOT / "solutions" / f"step_{step}.py").read_text()
        names = [m.name for m in mutants]
        assert len(names) == len(set(names)), f"step {step} has two mutants with one name"
        for mutant in mutants + EQUIVALENT.get(step, []):
            assert mutant.apply(source, f"step_{step}.py") != source


def test_equivalent_mutants_say_why():
    for step, mutants in EQUIVALENT.items():
        for mutant in mutants:
            assert mutant.reason, f"equivalent mutant {mutant.name!r} of step {step} needs a reason"


@pytest.mark.parametrize("k", range(BATCHES), ids=[f"batch-{k}" for k in range(BATCHES)])
def test_each_mutant_loses_points_in_its_own_step_only(tmp_path, honest_scores, warm_grader, k):
    mutants = batch(k)
    submission = make_submission(tmp_path / "sub", mutants)
    results = warm_grader(submission)
    scores = step_scores(results)
    survived = [f"step {s}: {m.name}" for s, m in mutants.items() if scores[s] >= STEPS_BY_ID[s].points]
    assert not survived, f"mutants not caught: {survived}"
    disturbed = {s: (scores[s], honest_scores[s]) for s in scores if s not in mutants and scores[s] != honest_scores[s]}
    assert not disturbed, f"steps without a mutant changed score (got, honest): {disturbed}"


EQUIVALENT_BATCHES = max((len(m) for m in EQUIVALENT.values()), default=0)


@pytest.mark.parametrize("k", range(EQUIVALENT_BATCHES), ids=[f"equivalent-{k}" for k in range(EQUIVALENT_BATCHES)])
def test_equivalent_mutants_keep_full_marks(tmp_path, honest_scores, warm_grader, k):
    """An edit listed as equivalent must really behave like the solution."""
    edits = {step: mutants[k] for step, mutants in EQUIVALENT.items() if len(mutants) > k}
    submission = make_submission(tmp_path / "sub", edits)
    assert step_scores(warm_grader(submission)) == honest_scores, {s: m.name for s, m in edits.items()}


@pytest.mark.parametrize("step", ["03", "07"])
def test_a_single_mistake_costs_only_its_own_step(tmp_path, honest_scores, warm_grader, step):
    if not MUTANTS.get(step):
        pytest.skip(f"step {step} has no catalogued mutants yet")
    submission = make_submission(tmp_path / "sub", {step: MUTANTS[step][0]})
    results = warm_grader(submission)
    scores = step_scores(results)
    assert scores[step] < honest_scores[step]
    assert {s: v for s, v in scores.items() if s != step} == {s: v for s, v in honest_scores.items() if s != step}
    for test in results["tests"]:
        extra = test["extra_data"]
        if extra["step"] != step and test["status"] == "failed":
            assert extra["integration"], f"only labelled integration checks may fail elsewhere: {test['name']}"
