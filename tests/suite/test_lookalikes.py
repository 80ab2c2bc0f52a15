"""The correct look-alikes (tests/suite/lookalikes/step_NN_<style>.py) earn
full marks in their own step: the checks grade behaviour, not one way of
writing it. Each look-alike replaces ``step_NN.py`` in a copy of the
solutions, and that step is graded with the hidden checks.

    pytest tests/suite/test_lookalikes.py -q
"""

from __future__ import annotations

import re

import pytest

from grading.config import STEPS_BY_ID

from .conftest import ROOT, make_submission

FOLDER = ROOT / "tests" / "suite" / "lookalikes"
NAME = re.compile(r"step_(\d\d)_(\w+)\.py")
LOOKALIKES = sorted(p for p in FOLDER.glob("step_*.py"))


def step_of(path) -> str:
    """'12' for tests/suite/lookalikes/step_12_gumbel.py."""
    return NAME.fullmatch(path.name).group(1)


def test_lookalikes_are_named_for_their_step_and_differ_from_its_solution():
    assert LOOKALIKES, "no look-alikes found"
    for path in LOOKALIKES:
        assert NAME.fullmatch(path.name), f"{path.name}: name a look-alike step_NN_<style>.py"
        assert step_of(path) in STEPS_BY_ID, f"{path.name}: no step {step_of(path)}"
        solution = ROOT / "solutions" / f"step_{step_of(path)}.py"
        assert path.read_text() != solution.read_text(), f"{path.name} is the solution itself: it proves nothing"


@pytest.mark.parametrize("lookalike", LOOKALIKES, ids=[p.stem for p in LOOKALIKES])
def test_lookalike_earns_full_marks(tmp_path, warm_grader, lookalike):
    step_id = step_of(lookalike)
    submission = make_submission(tmp_path / "sub", {f"step_{step_id}.py": lookalike.read_text()})
    results = warm_grader(submission, [step_id])
    step = next(s for s in results["steps"] if s["id"] == step_id)
    failing = [f"{t['name']}: {t['extra_data']['message']}" for t in results["tests"] if t["status"] == "failed"]
    assert step["score"] == step["max_score"], "\n".join(failing)
