"""Render a results JSON as text for people. Never runs tests.

``check_text`` is what ``python -m grading check`` prints for a student;
``markdown_report`` is the readable report ``run --markdown`` writes;
``run_summary`` is the short account ``run`` prints in the log.
"""

from __future__ import annotations

from .config import STEPS_BY_ID


def points(value: float) -> str:
    """4, 4.5, 3.33: no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def _checks_of(results: dict, step_id: str) -> list[dict]:
    return [t["extra_data"] | {"passed": t["status"] == "passed"} for t in results["tests"] if t["extra_data"]["step"] == step_id]


def check_text(results: dict, step_ids: list[str]) -> str:
    """The ✅/❌ lines of each step's checks, each ❌ followed by its hint."""
    out = []
    total_passed = total = 0
    for step_id in step_ids:
        step = STEPS_BY_ID[step_id]
        checks = _checks_of(results, step_id)
        out.append(f"Running tests for Step {step.id}: {step.title}...")
        out.append("")
        out.append("Results:")
        if not checks:
            out.append(f"⏳ no checks are available for step {step.id} yet")
        for c in checks:
            if c["passed"]:
                out.append(f"✅ {c['title']}")
            else:
                out.append(f"❌ {c['message']}")
                if c["hint"]:
                    out.append(f"   Hint: {c['hint']}")
        passed = sum(c["passed"] for c in checks)
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


def run_summary(results: dict) -> str:
    lines = [f"Score: {points(results['score'])}/{points(results['max_score'])}", ""]
    for step in results["steps"]:
        mark = {"passed": "✅", "partial": "⚠️", "not_started": "⏳"}.get(step["status"], "❌")
        lines.append(
            f"{mark} Step {step['id']} {step['title']}: {points(step['score'])}/{points(step['max_score'])}"
            f" ({step['checks_passed']}/{step['checks']} checks)"
        )
    if not results.get("hidden_tests_used", True):
        lines += ["", results["output"]]
    return "\n".join(lines)


def markdown_report(results: dict) -> str:
    lines = [
        "# Autograding report",
        "",
        f"**Score: {points(results['score'])}/{points(results['max_score'])}**",
        "",
        results.get("output", ""),
        "",
        "| Step | Title | Points | Checks |",
        "|---|---|---|---|",
    ]
    for step in results["steps"]:
        lines.append(
            f"| {step['id']} | {step['title']} | {points(step['score'])}/{points(step['max_score'])} "
            f"| {step['checks_passed']}/{step['checks']} |"
        )
    flags = results.get("integrity") or []
    if flags:
        lines += ["", "## Integrity notes (no points are taken for these)", ""]
        for flag in flags:
            line = f", line {flag['line']}" if flag.get("line") else ""
            lines.append(f"- **{flag.get('kind', '')}** in {flag.get('file', '')}{line}: {flag.get('detail', '')}")
    failing = [t for t in results["tests"] if t["status"] != "passed"]
    if failing:
        lines += ["", "## Checks to fix", ""]
        for t in failing:
            extra = t["extra_data"]
            label = " (hidden check)" if t["visibility"] == "hidden" else ""
            lines.append(f"- **Step {extra['step']}: {extra['title']}**{label}  ")
            lines.append(f"  {extra['message']}" + (f"  \n  _Hint: {extra['hint']}_" if extra["hint"] else ""))
    return "\n".join(lines) + "\n"
