"""The warm judge (``grading.engine.zygote``): grades identical to a lone
``python -m grading run``, and a submission that kills or hangs its judge
costs only itself while the warm process grades the next one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grading.config import GRADER_ROOT, Limits

from .conftest import QUICK_LIMITS, grading_cli, make_submission

HOSTILE = Path(__file__).resolve().parent / "hostile"


def by_check(results: dict) -> dict[str, tuple[float, str]]:
    return {t["name"]: (t["score"], t["status"]) for t in results["tests"]}


def with_hostile(folder: Path, step: str, name: str) -> Path:
    """The solutions, with step ``step`` extended by ``hostile/NAME.py``."""
    make_submission(folder)
    target = folder / f"step_{step}.py"
    target.write_text(target.read_text() + "\n\n" + (HOSTILE / f"{name}.py").read_text())
    return folder


def test_warm_grades_equal_a_lone_run(warm_grader, solution_run):
    warm = warm_grader(GRADER_ROOT / "solutions")
    assert warm["score"] == 100
    assert by_check(warm) == by_check(solution_run.results)


@pytest.mark.parametrize("wrong", [("04", "10", "12"), ("11",)], ids=["04-10-12", "11"])
def test_warm_grades_of_wrong_code_equal_a_lone_run(warm_grader, tmp_path, wrong):
    """Failing checks, so twins run on the student's own steps: the warm
    judge's shared reference data (computed before the fork) gives the
    grades a lone run computes for itself. A lone run checks its last steps
    in a partner (``grading.engine.partner``): there a twin of step 10 is
    held back by step 04, checked by the judge, and one of step 11 runs
    once the judge has sent that its steps all passed."""
    from tests.suite.mutation import make_submission as make_mutant
    from tests.suite.test_mutants import batch

    submission = make_mutant(tmp_path / "sub", {step: m for step, m in batch(0).items() if step in wrong})
    warm = warm_grader(submission)
    lone = grading_cli("run", "--submission", str(submission), json_path=tmp_path / "lone.json")
    assert lone.returncode == 0, lone.stderr[-2000:]
    assert warm["score"] < 100
    assert by_check(warm) == by_check(lone.results)


def test_a_reference_fixture_is_computed_once_and_puts_back_the_random_state_it_left():
    import torch

    from grading.engine import checks

    computed = []

    def draws():
        torch.manual_seed(7)
        computed.append(torch.rand(3))
        return computed[-1]

    checks.reference_fixture(draws)
    shared = checks._REFERENCES.pop()  # this test's own: never computed by a warm process
    torch.manual_seed(1)
    first = shared()
    after_first = torch.rand(2)
    torch.manual_seed(2)
    assert shared() is first and len(computed) == 1
    assert torch.equal(torch.rand(2), after_first), "the state the computation left was not put back"


def test_a_killed_judge_costs_only_its_submission(warm_grader, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADING_LANDLOCK", "0")  # let the worker's signal reach its judge
    zygote_pid = warm_grader.zygote._process.pid if warm_grader.zygote._process else None
    killer = warm_grader(with_hostile(tmp_path / "killer", "05", "kill_judge"), ["05", "06"], limits=QUICK_LIMITS)
    scores = {s["id"]: s["score"] for s in killer["steps"] if s["checks"]}
    assert scores["05"] < 5 and scores["06"] == 5
    monkeypatch.delenv("GRADING_LANDLOCK")
    after = warm_grader(GRADER_ROOT / "solutions", ["05", "06", "07"])
    assert {s["id"]: s["score"] for s in after["steps"] if s["checks"]} == {"05": 5, "06": 5, "07": 14}
    if zygote_pid is not None:
        assert warm_grader.zygote._process.pid == zygote_pid, "the warm process was replaced"
        os.kill(zygote_pid, 0)  # still alive


def test_a_hanging_submission_costs_only_itself(warm_grader, tmp_path):
    hang = warm_grader(with_hostile(tmp_path / "hang", "05", "infinite_loop"), ["05"], limits=QUICK_LIMITS)
    assert hang["steps"][4]["score"] < 5
    assert warm_grader(GRADER_ROOT / "solutions", ["05"], limits=QUICK_LIMITS)["steps"][4]["score"] == 5


def test_only_judges_that_differ_by_submission_share_the_collected_session(tmp_path):
    """The warm process collects the checks once (``collected_session``): a
    judge is forked from that session only where collecting would find the
    same checks, never for a relaunch (checks deselected) or spawned workers."""
    from grading.engine.judge import judge_arguments, judge_environment, test_files
    from grading.engine.zygote import _session_key

    def request(submission, **changes):
        args = dict(skip=set(), deselect=(), limits=Limits())
        args.update(changes)
        argv = judge_arguments(Path(submission), test_files(True), "{results_fd}", args["limits"], args["skip"], args["deselect"])
        env = dict(judge_environment(args["limits"]), **args.get("env", {}))
        return {"argv": argv, "env": env, "cwd": str(GRADER_ROOT)}

    key = _session_key(request(tmp_path / "alice"))
    assert key is not None and key == _session_key(request(tmp_path / "bob"))
    assert _session_key(request(tmp_path / "bob", limits=QUICK_LIMITS)) not in (None, key)  # another time limit per check
    assert _session_key(request(tmp_path / "bob", deselect={"tests/visible/test_step_01.py::x"})) is None
    assert _session_key(request(tmp_path / "bob", skip={"05"})) is None
    assert _session_key(request(tmp_path / "bob", env={"GRADING_WORKERS": "spawn"})) is None
