"""The mutation catalogue proves the step checks can fail: every catalogued
mistake (tests/suite/mutants/step_NN.py) must lose points in its own step,
and may cost any other step at most a fifth of its points.

Grading is per step and isolated: in a step's worker the earlier steps' API
is the grader's reference, and a check is tried on the student's own earlier
steps (its twin) only when every one of them passed all its checks, which a
caught mistake never does. So mistakes in *different* steps cannot affect
each other's scores, and one grading run can carry one mutant of every step
at once: batch k holds mutant k of each step. In each batch, every mutated
step must lose points and every untouched step must keep exactly its honest
score, which is the "no earlier step" guarantee. The single-mistake runs at
the end measure the collateral itself, for the steps most others build on.
"""

from __future__ import annotations

import pytest

from grading.config import STEPS_BY_ID

from .conftest import ROOT, step_scores
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


COLLATERAL = 0.2  # the share of another step's points one mistake may cost at most


@pytest.mark.parametrize("step", ["01", "03", "07", "10"])
def test_a_single_mistake_costs_other_steps_at_most_a_fifth(tmp_path, honest_scores, warm_grader, step):
    if not MUTANTS.get(step):
        pytest.skip(f"step {step} has no catalogued mutants yet")
    submission = make_submission(tmp_path / "sub", {step: MUTANTS[step][0]})
    results = warm_grader(submission)
    scores = step_scores(results)
    assert scores[step] < honest_scores[step]
    lost = {s: (honest_scores[s] - v) / STEPS_BY_ID[s].points for s, v in scores.items() if s != step}
    too_much = {s: f"{share:.0%}" for s, share in lost.items() if share > COLLATERAL}
    assert not too_much, f"{MUTANTS[step][0].name!r} in step {step} costs other steps too much: {too_much}"
    assert max(lost.values()) == 0, f"a mistake in step {step} changed other steps' scores: {lost}"
