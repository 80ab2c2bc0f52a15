"""Score what the judge reported: a pure function of the collected checks
(with the weights they were collected with) and the outcomes that came back.

Called by ``grading.cli.grade`` after ``grading.engine.judge.judge``. A
step's points (from ``grading.config``) are shared among its checks in
proportion to their weights. Every weight is fixed at collection, before any
submission code runs, so a check that never reported (its judge died) counts
as failed and keeps its share: a death can only turn passes into failures,
never move points between checks.

A check collected on both foundations (``grading.engine.plugin``) is one
check: its twin on the student's own earlier steps (``twin_of``) adds no
weight, and the check passes if either passed. When only the twin passed,
the title says so ("passed on your own steps 01–10"); when the check failed
because the student's code raised on the grader's steps and the twin could
not run because an earlier step is not fully correct yet, the message says
that too.
"""

from __future__ import annotations

from ..config import STEPS
from .model import NOT_STARTED_KINDS, CheckResult, Results, StepResult


WITH_HIDDEN = "Graded with the visible and hidden checks."
VISIBLE_ONLY = "Graded with the visible checks only: the hidden checks were not available."


def _round(value: float) -> float:
    return round(value + 0.0, 4)


def check_result(facts: dict, outcome: dict | None, stopped_because: str | None) -> CheckResult:
    """One check, from its collected facts and its pytest-json-report entry
    (None when it never reported)."""
    meta = (outcome or {}).get("metadata", {})
    passed = outcome is not None and outcome.get("outcome") == "passed"
    if outcome is None:
        message = stopped_because or "this check did not run: the grader stopped before reaching it"
        kind = "stopped"
    elif passed:
        message = kind = ""
    else:
        message = meta.get("message") or _fallback_message(outcome)
        kind = meta.get("kind") or "internal"
    return CheckResult(
        nodeid=facts["nodeid"],
        step=facts["step"],
        title=facts["title"],
        hint=facts.get("hint", ""),
        weight=float(facts.get("weight", 0.0)),
        visibility=facts.get("visibility", "visible"),
        foundation=facts.get("foundation", ""),
        passed=passed,
        message=message,
        kind=kind,
        location=None if passed else meta.get("location"),
        output="" if passed else meta.get("output", ""),
    )


def merge_twin(check: CheckResult, twin: dict | None):
    """Fold a check's twin (its outcome on the student's own earlier steps,
    None if it never reported) into the check itself."""
    if check.passed or twin is None:
        return
    earlier = _earlier_steps(check.step)
    if twin.get("outcome") == "passed":
        check.passed, check.message, check.kind, check.location, check.output = True, "", "", None, ""
        check.foundation = "own"
        check.title = f"{check.title} (passed on your own {earlier})"
        return
    unready = twin.get("metadata", {}).get("unready_steps")
    if unready and check.kind == "exception":
        steps = f"step{'s' if len(unready) > 1 else ''} {', '.join(unready)}"
        check.message += (
            f". This check ran your code on the grader's {earlier}; it also runs on your own once each of them "
            f"passes all its checks ({steps} not yet)"
        )


def _earlier_steps(step_id: str) -> str:
    last = f"{int(step_id) - 1:02d}"
    return "step 01" if last == "01" else f"steps 01–{last}"


def _fallback_message(outcome: dict) -> str:
    if outcome.get("outcome") == "skipped":
        return "this check was skipped"
    return "the grader hit an internal error in this check; please tell your instructor"


def build_results(
    collected: list[dict],
    outcomes: list[dict],
    *,
    stopped_steps: dict[str, str],
    duration: float,
    graded_with_hidden: bool,
    untouched_steps: set[str] = frozenset(),
) -> Results:
    """``untouched_steps``: steps whose file is still the starter (⏳ not started)."""
    by_id = {o["nodeid"]: o for o in outcomes}
    twin_of = {facts["twin_of"]: facts["nodeid"] for facts in collected if facts.get("twin_of")}
    checks = []
    for facts in collected:
        if facts.get("twin_of"):
            continue  # folded into its counterpart
        check = check_result(facts, by_id.get(facts["nodeid"]), stopped_steps.get(facts["step"]))
        if facts["nodeid"] in twin_of:
            merge_twin(check, by_id.get(twin_of[facts["nodeid"]]))
        checks.append(check)

    steps = []
    for step in STEPS:
        mine = [c for c in checks if c.step == step.id]
        total_weight = sum(c.weight for c in mine)
        for c in mine:
            share = step.points * c.weight / total_weight if total_weight else 0.0
            c.max_score = _round(share)
            c.score = _round(share if c.passed else 0.0)
        # From the weights, not the rounded check scores, so a full step is exact.
        passed_weight = sum(c.weight for c in mine if c.passed)
        earned = step.points * passed_weight / total_weight if total_weight else 0.0
        status = "not_started" if step.id in untouched_steps and earned == 0 else _step_status(mine, earned, step.points)
        steps.append(StepResult(step.id, step.title, _round(earned), step.points, status, sum(c.passed for c in mine), len(mine)))
    return Results(
        score=_round(sum(s.score for s in steps)),
        max_score=sum(s.max_score for s in steps),
        execution_time=round(duration, 2),
        output=WITH_HIDDEN if graded_with_hidden else VISIBLE_ONLY,
        checks=checks,
        steps=steps,
        hidden_tests_used=graded_with_hidden,
    )


def _step_status(checks: list[CheckResult], earned: float, points: float) -> str:
    if not checks:
        return "unavailable"
    if earned >= points - 1e-6:
        return "passed"
    if earned > 0:
        return "partial"
    failed = [c for c in checks if not c.passed]
    if failed and all(c.kind in NOT_STARTED_KINDS for c in failed):
        return "not_started"
    return "failed"
