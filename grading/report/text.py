"""Render results as plain text for people. Never runs tests.

``check_text`` is what ``python -m grading check`` prints for a student;
``run_summary`` is the short account ``run`` prints in the log; ``points``
is the one way points are written anywhere (text, markdown, gradebook).

A console that cannot print the marks (a Windows console in cp1252, output
redirected to a file in an old code page, ``PYTHONIOENCODING=ascii``) gets
plain ones instead (``marks_for``), and ``safe_console`` makes any other
character such a console lacks print as a look-alike or ``?``, never a crash.
"""

from __future__ import annotations

import codecs
import sys

from ..config import STEPS_BY_ID
from .model import Results
from .scoring import VISIBLE_ONLY

MARKS = {"passed": "✅", "failed": "❌", "partial": "⚠️", "not_started": "⏳", "done": " 🎉"}
PLAIN_MARKS = {"passed": "[PASS]", "failed": "[FAIL]", "partial": "[PART]", "not_started": "[TODO]", "done": ""}
STEP_MARKS = {k: MARKS[k] for k in ("passed", "partial", "not_started")}  # anything else: ❌

# What a console without the character prints instead (anything else: "?").
_LOOK_ALIKES = {
    "…": "...", "→": "->", "←": "<-", "·": "-", "—": "-", "–": "-", "≤": "<=", "≥": ">=", "≈": "~", "×": "x",
    "‘": "'", "’": "'", "“": '"', "”": '"', "\u200b": " ",  # the zero-width space that keeps text from being a workflow command
    "✅": "[PASS]", "❌": "[FAIL]", "⚠": "[PART]", "\ufe0f": "", "⏳": "[TODO]", "🎉": "",
}  # fmt: skip
_ERRORS = "grading-look-alike"


def _look_alike(error: UnicodeEncodeError):
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    out = []
    for char in text:
        substitute = _LOOK_ALIKES.get(char, "?")
        try:
            substitute.encode(error.encoding)
        except (UnicodeEncodeError, LookupError):
            substitute = "?"
        out.append(substitute)
    return "".join(out), error.end


codecs.register_error(_ERRORS, _look_alike)


def can_print(stream, text: str) -> bool:
    """Whether ``stream`` can encode ``text`` (a stream without an encoding
    is taken to be UTF-8)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def marks_for(stream=None) -> dict[str, str]:
    """The emoji marks if ``stream`` (default: stdout) can print them, else plain ones."""
    stream = stream if stream is not None else sys.stdout
    return MARKS if can_print(stream, "".join(MARKS.values())) else PLAIN_MARKS


def safe_console(*streams):
    """Make ``streams`` (default: stdout and stderr) print a look-alike or
    ``?`` for any character their encoding lacks, instead of raising."""
    for stream in streams or (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and not can_print(stream, "".join(_LOOK_ALIKES)):
            try:
                stream.reconfigure(errors=_ERRORS)
            except (ValueError, OSError):  # a stream that cannot change now
                pass


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


def check_text(results: Results, step_ids: list[str], marks: dict[str, str] = MARKS) -> str:
    """The ✅/❌ lines of each step's checks, each ❌ followed by its hint."""
    out = []
    total_passed = total = 0
    for step_id in step_ids:
        step = STEPS_BY_ID[step_id]
        checks = results.checks_of(step_id)
        out += [f"Running tests for Step {step.id}: {step.title}...", "", "Results:"]
        for c in checks:
            if c.passed:
                out.append(f"{marks['passed']} {c.title}")
            else:
                out.append(f"{marks['failed']} {c.message}")
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
        summary += f": all done!{marks['done']}"
    out.append(summary)
    return "\n".join(out)


def run_summary(results: Results, marks: dict[str, str] = MARKS) -> str:
    lines = [f"Score: {score_line(results)}", ""]
    for step in results.steps:
        mark = marks.get(step.status) if step.status in STEP_MARKS else marks["failed"]
        lines.append(
            f"{mark} Step {step.id} {step.title}: {points(step.score)}/{points(step.max_score)}"
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
