"""The two things a push's log shows besides the comment: the job summary
(``$GITHUB_STEP_SUMMARY``) and ``::error`` annotations on the student's own
lines. Called by ``grading.github.post``; pure functions of the results model.
"""

from __future__ import annotations

from ..report.model import CheckResult, Results
from ..report.notices import escape_data, escape_property
from .markdown import clip, location, report_body, size, waiting_steps

SUMMARY_BUDGET = 900_000  # a step summary may hold 1 MiB
ANNOTATIONS_MAX = 10
_KIND_RANK = {"exception": 0, "crash": 1, "timeout": 2, "error": 3}


def job_summary(results: Results, submission_path: str = "assignments") -> str:
    """The report, with details cut level by level until it fits."""
    for level in ("full", "brief", "title", "counts"):
        text = report_body(results, level, submission_path) + "\n"
        if size(text) <= SUMMARY_BUDGET:
            return text
    return text[:SUMMARY_BUDGET] + "\n"


def annotations(results: Results, submission_path: str = "assignments", limit: int = ANNOTATIONS_MAX) -> list[str]:
    """``::error file=…,line=…`` lines on the student's own lines, one per
    line of code, most useful first: errors raised by their code, then lines
    that fail the most checks, then earlier steps. Every value is escaped."""
    groups: dict[tuple[str, int], list[CheckResult]] = {}
    waiting = waiting_steps(results)
    for check in results.failing():
        if check.step in waiting:
            continue  # a starter's TODO is not news
        where = location(check, submission_path)
        if where:
            groups.setdefault((where["path"], where["line"]), []).append(check)

    def rank(item):
        (path, line), checks = item
        kind = min(_KIND_RANK.get(c.kind, 9) for c in checks)
        return (kind, -len(checks), min(c.step for c in checks), path, line)

    lines = []
    for (path, line), checks in sorted(groups.items(), key=rank)[:limit]:
        first = sorted(checks, key=lambda c: c.visibility == "hidden")[0]
        title = f"Step {first.step}: {first.title}"
        if first.visibility == "hidden":
            message = f"A hidden check failed here: {first.title}."
        else:
            message = first.message or "this check failed here"
        if first.hint:
            message += f"\nHint: {first.hint}"
        if len(checks) > 1:
            message += f"\n({len(checks)} failing checks point to this line.)"
        message = clip(message, 1500)
        lines.append(f"::error file={escape_property(path)},line={line},title={escape_property(clip(title, 200))}::{escape_data(message)}")
    return lines
