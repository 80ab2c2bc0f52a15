"""Render results as plain text for people. Never runs tests.

``check_text`` is what ``python -m grading check`` prints for a student;
``run_summary`` is the short account ``run`` prints in the log; ``points``
is the one way points are written anywhere (text, markdown, gradebook).
"""

from __future__ import annotations

from ..config import STEPS_BY_ID
from .model import Results
from .scoring import VISIBLE_ONLY

STEP_MARKS = {"passed": "✅", "partial": "⚠️", "not_started": "⏳"}  # anything else: ❌


def points(value: float) -> str:
    """4, 4.5, 3.33: no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def score_line(results: Results) -> str:
    """"99.05/100", and what GitHub Classroom records when it differs: "99.05/100 (Classroom: 99/100)"."""
    line = f"{points(results.score)}/{points(results.max_score)}"
    if points(results.score) != str(results.classroom_points) or points(results.max_score) != str(results.classroom_max):
        line += f" (Classroom: {results.classroom_points}/{results.classroom_max})"
    return line


def check_text(results: Results, step_ids: list[str]) -> str:
    """The ✅/❌ lines of each step's checks, each ❌ followed by its hint."""
    out = []
    total_passed = total = 0
    for step_id in step_ids:
        step = STEPS_BY_ID[step_id]
        checks = results.checks_of(step_id)
        out += [f"Running tests for Step {step.id}: {step.title}...", "", "Results:"]
        for c in checks:
            if c.passed:
                out.append(f"✅ {c.title}")
            else:
                out.append(f"❌ {c.message}")
                if c.hint:
                    out.append(f"   Hint: {c.hint}")
        passed = sum(c.passed for c in checks)
        total_passed += passed
        total += len(checks)
        out.append("")
    if len(step_ids) == 1:
        summary = f"{total_passed}/{total} checks passed for step {step_ids[0]}"
    else:
        summary = f"{total_passed}/{total} checks passed across {len(step_ids)} steps"
    if total and total_passed == total:
        summary += ": all done! 🎉"
    out.append(summary)
    return "\n".join(out)


def run_summary(results: Results) -> str:
    lines = [f"Score: {score_line(results)}", ""]
    for step in results.steps:
        lines.append(
            f"{STEP_MARKS.get(step.status, '❌')} Step {step.id} {step.title}: {points(step.score)}/{points(step.max_score)}"
            f" ({step.checks_passed}/{step.checks} checks)"
        )
    if not results.hidden_tests_used:
        lines += ["", VISIBLE_ONLY]
    if results.integrity:
        lines += ["", integrity_lines(results.integrity)]
    return "\n".join(lines)


def flag_text(flag: dict) -> str:
    """One integrity flag in plain words: "[import] step_07.py:3: imports transformers …"."""
    where = f"{flag.get('file', '')}:{flag['line']}" if flag.get("line") else str(flag.get("file", ""))
    kind = f"[{flag['kind']}] " if flag.get("kind") else ""
    return f"{kind}{where}: {flag.get('detail', '')}" if where else f"{kind}{flag.get('detail', '')}"


def integrity_lines(flags: list[dict], shown: int = 50) -> str:
    """The integrity flags as plain lines (no points are deducted for them)."""
    lines = [f"Integrity flags for the instructor ({len(flags)}; no points deducted):"]
    lines += [f"- {flag_text(item)}" for item in flags[:shown]]
    if len(flags) > shown:
        lines.append(f"- … and {len(flags) - shown} more")
    return "\n".join(lines)
