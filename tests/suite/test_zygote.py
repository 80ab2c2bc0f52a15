"""The warm judge (``grading.engine.zygote``): grades identical to a lone
``python -m grading run``, and a submission that kills or hangs its judge
costs only itself while the warm process grades the next one."""

from __future__ import annotations

import os
from pathlib import Path

from grading.config import GRADER_ROOT, Limits

from .conftest import make_submission

HOSTILE = Path(__file__).resolve().parent / "hostile"
QUICK = Limits(call_timeout=3.0, test_timeout=20.0, step_timeout=12.0, judge_timeout=180.0)


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


def test_a_killed_judge_costs_only_its_submission(warm_grader, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADING_LANDLOCK", "0")  # let the worker's signal reach its judge
    zygote_pid = warm_grader.zygote._process.pid if warm_grader.zygote._process else None
    killer = warm_grader(with_hostile(tmp_path / "killer", "05", "kill_judge"), ["05", "06"], limits=QUICK)
    scores = {s["id"]: s["score"] for s in killer["steps"] if s["checks"]}
    assert scores["05"] < 5 and scores["06"] == 5
    monkeypatch.delenv("GRADING_LANDLOCK")
    after = warm_grader(GRADER_ROOT / "solutions", ["05", "06", "07"])
    assert {s["id"]: s["score"] for s in after["steps"] if s["checks"]} == {"05": 5, "06": 5, "07": 14}
    if zygote_pid is not None:
        assert warm_grader.zygote._process.pid == zygote_pid, "the warm process was replaced"
        os.kill(zygote_pid, 0)  # still alive


def test_a_hanging_submission_costs_only_itself(warm_grader, tmp_path):
    hang = warm_grader(with_hostile(tmp_path / "hang", "05", "infinite_loop"), ["05"], limits=QUICK)
    assert hang["steps"][4]["score"] < 5
    assert warm_grader(GRADER_ROOT / "solutions", ["05"], limits=QUICK)["steps"][4]["score"] == 5
