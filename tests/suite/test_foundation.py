"""The foundation's contracts: results JSON, Classroom notices, the `check`
output, and bad input costing only the affected step."""

from __future__ import annotations

import re
import textwrap

import pytest

from grading.config import MAX_SCORE, STEPS

from .conftest import QUICK_LIMITS, ROOT, grading_cli, make_submission, step_scores

NOTICE_COMPLETE = re.compile(r"^::notice title=Autograding complete::Points (\d+)/(\d+)$", re.M)  # whole points only
NOTICE_REPORT = re.compile(r'^::notice title=Autograding report::\{"totalPoints":(\d+),"maxPoints":(\d+)\}$', re.M)


def steps_with_checks(results):
    return {s["id"] for s in results["steps"] if s["checks"]}


# -- grading the solutions and the starters ------------------------------------


def test_solutions_earn_every_available_point(solution_run):
    results = solution_run.results
    for step in results["steps"]:
        if step["checks"]:
            assert step["score"] == step["max_score"], step
    assert step_scores(results)["01"] == 4


def test_starters_earn_nothing(tmp_path):
    run = grading_cli("run", json_path=tmp_path / "r.json")
    assert run.returncode == 0
    assert run.results["score"] == 0
    assert all(step["score"] == 0 for step in run.results["steps"])
    assert run.results["steps"][0]["status"] == "not_started"


def test_results_json_has_the_contract_fields(solution_run):
    results = solution_run.results
    for key in ("score", "max_score", "execution_time", "tests", "steps"):
        assert key in results
    assert results["max_score"] == MAX_SCORE == 100
    assert [s["id"] for s in results["steps"]] == [s.id for s in STEPS]
    assert sum(s["max_score"] for s in results["steps"]) == 100
    for step in results["steps"]:
        assert set(step) >= {"id", "title", "score", "max_score"}
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility", "output"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden")
    per_step = {}
    for test in results["tests"]:
        per_step.setdefault(test["extra_data"]["step"], 0.0)
        per_step[test["extra_data"]["step"]] += test["max_score"]
    for step in results["steps"]:
        if step["checks"]:
            assert per_step[step["id"]] == pytest.approx(step["max_score"], abs=1e-3)
    assert results["score"] == pytest.approx(sum(s["score"] for s in results["steps"]), abs=1e-3)


def test_notices_are_printed_exactly_once_and_agree_with_the_json(solution_run):
    out = solution_run.stdout
    complete, report = NOTICE_COMPLETE.findall(out), NOTICE_REPORT.findall(out)
    assert len(complete) == 1 and len(report) == 1
    assert complete[0] == report[0]
    score, maximum = (float(x) for x in complete[0])
    assert score == pytest.approx(solution_run.results["score"], abs=0.01)
    assert maximum == 100
    assert out.count("::notice") == 2


def test_a_partial_score_reaches_classroom_in_whole_points(tmp_path):
    """GitHub Classroom's export turns a fractional total into 0: the notices
    carry the score rounded to the nearest point, the JSON the exact one."""
    from grading.report.text import points
    from tests.suite.mutation import catalogue
    from tests.suite.mutation import make_submission as make_mutant

    off_by_one = next(m for m in catalogue()["02"] if m.name.startswith("off by one"))
    submission = make_mutant(tmp_path / "sub", {"02": off_by_one})
    run = grading_cli("run", "--submission", str(submission), json_path=tmp_path / "r.json")
    exact = run.results["score"]
    assert exact != int(exact), "this mutant should leave a fractional score"
    whole = int(exact + 0.5)
    assert NOTICE_COMPLETE.findall(run.stdout) == [(str(whole), "100")]
    assert NOTICE_REPORT.findall(run.stdout) == [(str(whole), "100")]
    assert run.results["classroom"] == {"points": whole, "max_points": 100}
    assert f"Score: {points(exact)}/100 (Classroom: {whole}/100)" in run.stdout


# -- what a student sees with `check` ------------------------------------------


def test_check_output_when_failing():
    run = grading_cli("check", "1")
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[0] == "Running tests for Step 01: Create Model Configuration..."
    assert lines[1] == ""
    assert lines[2] == "Results:"
    assert "❌ vocab_size is incorrect: expected match with Hugging Face model configuration, got None" in lines
    for i, line in enumerate(lines):
        if line.startswith("❌"):
            assert lines[i + 1].startswith("   Hint: "), "every ❌ line is followed by an indented hint"
    assert re.fullmatch(r"0/9 checks passed for step 01", lines[-1])


def test_check_output_when_passing():
    run = grading_cli("check", "1", "--submission", "solutions")
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    assert "✅ dataclass is correctly imported from dataclasses" in lines
    assert sum(line.startswith("✅") for line in lines) == 9
    assert not any(line.startswith("❌") for line in lines)
    assert lines[-1].startswith("9/9 checks passed for step 01")


def test_check_without_steps_checks_every_step_with_checks():
    run = grading_cli("check", "--submission", "solutions")
    headers = [l for l in run.stdout.splitlines() if l.startswith("Running tests for Step")]
    available = sorted(p.name[10:12] for p in (ROOT / "tests" / "visible").glob("test_step_*.py"))
    assert [h.split()[4].rstrip(":") for h in headers] == available
    assert run.returncode == 0


def test_unknown_step_and_bad_submission_path_are_one_clear_line():
    for args in (("check", "13"), ("run", "--submission", "no/such/folder"), ("check", "--submission", "nowhere")):
        run = grading_cli(*args)
        assert run.returncode == 2
        assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith("error: ")
        assert "Traceback" not in run.stderr + run.stdout


# -- bad input costs only the affected step ------------------------------------

BAD_STEP_01 = {
    "missing": (None, "step_01.py was not found"),
    "syntax error": ("from dataclasses import dataclass\n\n@dataclass\nclass GPT2Config:\n    vocab_size: int = = 50257\n", "line 5"),
    "raises on import": ("x = 1\nraise RuntimeError('not today')\n", "line 2"),
}


@pytest.mark.parametrize("case", list(BAD_STEP_01))
def test_bad_step_01_costs_only_step_01(tmp_path, honest_scores, warm_grader, case):
    """Graded by a judge forked from the warm process (the judge of a lone
    ``run``, see test_zygote); that the command still prints its notices and
    exits normally on bad input is the tampering case's, below."""
    text, where = BAD_STEP_01[case]
    submission = make_submission(tmp_path / "sub", {"step_01.py": text})
    results = warm_grader(submission)
    scores = step_scores(results)
    assert scores["01"] == 0
    assert {k: v for k, v in scores.items() if k != "01"} == {k: v for k, v in honest_scores.items() if k != "01"}
    messages = [t["extra_data"]["message"] for t in results["tests"] if t["extra_data"]["step"] == "01"]
    assert messages and all(where in m for m in messages), messages[:2]
    if text is not None:
        assert all("step_01.py" in m for m in messages)

    check = grading_cli("check", "1", "--submission", str(submission))
    assert check.returncode == 1
    assert "Traceback" not in check.stdout + check.stderr
    assert where in check.stdout


HOSTILE_STEP_05 = {
    "exits at import": "import os\nos._exit(3)\n",
    "hangs at import": "while True:\n    pass\n",
}


@pytest.mark.parametrize("case", list(HOSTILE_STEP_05))
def test_a_hostile_earlier_file_costs_later_steps_nothing(tmp_path, case, warm_grader):
    """Later steps see step 05's API from the reference, and the student's own
    step_05.py is loaded only if a later step asks for another of its names."""
    submission = make_submission(tmp_path / "sub", {"step_05.py": HOSTILE_STEP_05[case]})
    results = warm_grader(submission, ["05", "09", "11"], limits=QUICK_LIMITS)
    scores = step_scores(results)
    assert scores["05"] == 0
    assert (scores["09"], scores["11"]) == (11, 10), [t["output"][:200] for t in results["tests"] if t["status"] != "passed"][:3]


# -- a step that tampers with the judge cannot change its verdict --------------

TAMPERING_STEP_01 = textwrap.dedent(
    '''
    """A starter that tries to pass every check by patching the test machinery."""
    import _pytest.runner, _pytest.reports, torch.testing, torch

    def _always_pass(*args, **kwargs):
        return None

    torch.testing.assert_close = _always_pass
    torch.allclose = lambda *a, **k: True
    _pytest.runner.call_and_report = lambda item, when, log=True, **kw: None
    _pytest.reports.TestReport.outcome = "passed"

    class GPT2Config:
        vocab_size = None
    '''
)


def test_tampering_with_pytest_and_torch_testing_changes_nothing(tmp_path, honest_scores):
    """A whole ``run``: on bad input the command still writes its results,
    prints the notices once, and exits normally."""
    submission = make_submission(tmp_path / "sub", {"step_01.py": TAMPERING_STEP_01})
    run = grading_cli("run", "--submission", str(submission), json_path=tmp_path / "r.json")
    assert run.returncode == 0
    assert len(NOTICE_COMPLETE.findall(run.stdout)) == 1 and len(NOTICE_REPORT.findall(run.stdout)) == 1
    scores = step_scores(run.results)
    assert scores["01"] == 0
    assert {k: v for k, v in scores.items() if k != "01"} == {k: v for k, v in honest_scores.items() if k != "01"}
