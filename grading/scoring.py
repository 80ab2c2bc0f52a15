"""Turn what the judge reported into the results JSON (DESIGN.md).

Called by ``run`` and ``check`` after ``grading.runner.judge``. The top level
is a valid Gradescope ``results.json`` (``score``, ``max_score``,
``execution_time``, ``tests``) plus ``steps``. A step's points (from
``grading.config``) are shared among its checks in proportion to their
weights; a check that was collected but never reported counts as failed.
"""

from __future__ import annotations

from .config import STEPS, step_of
from .runner import Outcome


def _round(value: float) -> float:
    return round(value + 0.0, 4)


def check_entry(test: dict | None, nodeid: str, stopped_because: str | None) -> dict:
    """Plain data for one check, from its pytest-json-report entry."""
    meta = (test or {}).get("metadata", {})
    step = meta.get("step") or (step_of(nodeid.split("::")[0]).id if step_of(nodeid.split("::")[0]) else "")
    title = meta.get("title") or nodeid.split("::")[-1]
    if meta.get("case"):
        title = f"{title} [{meta['case']}]"
    passed = test is not None and test.get("outcome") == "passed"
    if test is None:
        message = stopped_because or "this check did not run: the grader stopped before reaching it"
        kind = "stopped"
    else:
        message = meta.get("message", "" if passed else _fallback_message(test))
        kind = meta.get("kind", "" if passed else "internal")
    return {
        "nodeid": nodeid,
        "step": step,
        "title": title,
        "hint": meta.get("hint", ""),
        "weight": float(meta.get("weight", 1.0 if test is None else 0.0)),
        "integration": bool(meta.get("integration")),
        "visibility": meta.get("visibility") or ("hidden" if "/hidden/" in nodeid else "visible"),
        "passed": passed,
        "message": "" if passed else message,
        "kind": "" if passed else kind,
        "location": meta.get("location"),
        "output": meta.get("output", ""),
        "not_implemented": bool(meta.get("not_implemented")),
    }


def _fallback_message(test: dict) -> str:
    if test.get("outcome") == "skipped":
        return "this check was skipped"
    return "the grader hit an internal error in this check; please tell your instructor"


def build_results(outcome: Outcome, *, graded_with_hidden: bool, untouched_steps: set[str] = frozenset()) -> dict:
    """``untouched_steps``: steps whose file is still the starter (⏳ not started)."""
    by_id = {t["nodeid"]: t for t in outcome.tests}
    nodeids = list(outcome.collected) + [n for n in by_id if n not in set(outcome.collected)]
    checks = []
    for nodeid in nodeids:
        step = step_of(nodeid.split("::")[0])
        checks.append(check_entry(by_id.get(nodeid), nodeid, outcome.stopped_steps.get(step.id if step else "")))

    tests, steps = [], []
    for step in STEPS:
        mine = [c for c in checks if c["step"] == step.id]
        total_weight = sum(c["weight"] for c in mine)
        for c in mine:
            points = step.points * c["weight"] / total_weight if total_weight else 0.0
            c["max_score"] = _round(points)
            c["score"] = _round(points if c["passed"] else 0.0)
            tests.append(_gradescope_test(step, c))
        # From the weights, not the rounded check scores, so a full step is exact.
        passed_weight = sum(c["weight"] for c in mine if c["passed"])
        earned = step.points * passed_weight / total_weight if total_weight else 0.0
        steps.append(
            {
                "id": step.id,
                "title": step.title,
                "score": _round(earned),
                "max_score": step.points,
                "status": "not_started" if step.id in untouched_steps and earned == 0 else _step_status(mine, earned, step.points),
                "checks_passed": sum(c["passed"] for c in mine),
                "checks": len(mine),
            }
        )
    return {
        "score": _round(sum(s["score"] for s in steps)),
        "max_score": sum(s["max_score"] for s in steps),
        "execution_time": round(outcome.duration, 2),
        "output": "Graded with the visible and hidden checks."
        if graded_with_hidden
        else "Graded with the visible checks only: the hidden checks were not available.",
        "visibility": "visible",
        "tests": tests,
        "steps": steps,
        "hidden_tests_used": graded_with_hidden,
    }


def _step_status(checks: list[dict], earned: float, points: float) -> str:
    if not checks:
        return "unavailable"
    if earned >= points - 1e-6:
        return "passed"
    if earned > 0:
        return "partial"
    failed = [c for c in checks if not c["passed"]]
    if failed and all(c["not_implemented"] or "was not found in the submission" in c["message"] for c in failed):
        return "not_started"
    return "failed"


def _gradescope_test(step, c: dict) -> dict:
    lines = [] if c["passed"] else [c["message"]] + ([f"Hint: {c['hint']}"] if c["hint"] else [])
    return {
        "name": f"Step {step.id} · {c['title']}",
        "score": c["score"],
        "max_score": c["max_score"],
        "status": "passed" if c["passed"] else "failed",
        "visibility": c["visibility"],
        "output": "\n".join(lines),
        "extra_data": {k: c[k] for k in ("nodeid", "step", "title", "hint", "message", "kind", "location", "output", "integration", "not_implemented")},
    }
