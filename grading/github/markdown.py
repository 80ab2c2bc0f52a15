"""Markdown for GitHub, from the results model: the report that the job
summary and the Feedback comment share (score, table, checks to fix,
integrity notes), and the escaping of untrusted text.

Called by ``grading.github.feedback`` and ``grading.github.summary``; pure
functions of plain data. Everything that may come from a submission (a
check's message, the output its code printed, a function name) is shown
inside code blocks or HTML-escaped, so it can neither format the page,
mention people, forge the comment's hidden history, nor become a workflow
command. Hidden checks are shown by name and hint only.
"""

from __future__ import annotations

import html
import re

from ..report.model import CheckResult, Results
from ..report.text import points, score_line

STATUS = {
    "passed": ("✅", "passed"),
    "partial": ("⚠️", "partial"),
    "failed": ("❌", "failed"),
    "not_started": ("⏳", "not started"),
    "unavailable": ("➖", "no checks"),
}

VISIBLE_ONLY_NOTE = (
    "> [!WARNING]\n"
    "> **Graded with the visible checks only.** The hidden checks were not available for this run "
    "(the grader bundle is not set up for this assignment), so this score can differ from your final grade."
)

_PY_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.py$")


# -- making untrusted text harmless ------------------------------------------


def defang(text: str) -> str:
    """No HTML comment can start or end inside untrusted text, and no @mention pings anyone."""
    return text.replace("<!--", "<\u200b!--").replace("-->", "--\u200b>").replace("@", "@\u200b")


def html_text(text: str) -> str:
    """Text for an HTML context (``<summary>``): escaped, on one line."""
    return " ".join(html.escape(defang(str(text)), quote=True).split())


def md(text: str) -> str:
    """Text for a markdown context (a table cell, a paragraph): escaped, on one line."""
    return re.sub(r"([\\`*_\[\]|~#])", r"\\\1", html_text(text))


def identifier(text: str) -> str:
    """A function name from the submission, safe inside a code span."""
    name = str(text)[:200]
    return name if re.fullmatch(r"[\w.]+|<\w+>", name) else re.sub(r"[^\w.]", "", name)


def code_block(text: str) -> str:
    """Untrusted text verbatim, in a fence no line of it can close."""
    text = defang(str(text)).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def clip(text: str, limit: int) -> str:
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + f"\n… ({len(text) - limit} more characters cut)"


def size(text: str) -> int:
    """Length as GitHub may count it (UTF-16 code units), never less than characters."""
    return len(text.encode("utf-16-le")) // 2


# -- the pieces ----------------------------------------------------------------


def location(check: CheckResult, submission_path: str) -> dict | None:
    """Where in the student's repository a failing check points, if anywhere sane."""
    loc = check.location
    if not isinstance(loc, dict):
        return None
    name, line = loc.get("file"), loc.get("line")
    if not isinstance(name, str) or not _PY_FILE.match(name) or not isinstance(line, int) or line < 1:
        return None
    function = loc.get("function") if isinstance(loc.get("function"), str) else ""
    path = f"{submission_path.strip('/')}/{name}" if submission_path.strip("/") else name
    return {"path": path, "line": line, "function": function}


def step_table(results: Results) -> str:
    lines = ["| Step | Status | Points | Checks passed |", "|:--|:--|--:|--:|"]
    for step in results.steps:
        mark, word = STATUS.get(step.status, ("❔", step.status))
        checks = f"{step.checks_passed}/{step.checks}" if step.checks else "–"
        lines.append(f"| {md(step.id)} · {md(step.title)} | {mark} {word} | {points(step.score)}/{points(step.max_score)} | {checks} |")
    return "\n".join(lines)


def _check_section(check: CheckResult, level: str, submission_path: str) -> str:
    """One failing check. ``level``: "full" (message, hint, where, output),
    "brief" (message clipped, hint, where) or "title" (one line)."""
    hidden = check.visibility == "hidden"
    text = md if level == "title" else html_text  # a list item, or inside <summary>
    label = f"Step {text(check.step)} · {text(check.title)}" + (" (hidden check)" if hidden else "")
    if level == "title":
        return f"- ❌ {label}"
    body = []
    if hidden:
        body.append("This is a hidden check: its details stay hidden, and its hint tells you where to look.")
    elif check.message:
        body.append(code_block(clip(check.message, 4000 if level == "full" else 400)))
    if check.hint:
        body.append(f"**Hint:** {hint_text(check.hint)}")
    where = location(check, submission_path)
    if where:
        function = identifier(where["function"])
        in_function = f", in `{function}`" if function else ""
        body.append(f"📍 `{where['path']}`, line {where['line']}{in_function}")
    if level == "full" and not hidden and check.output:
        body.append("What your code printed:\n\n" + code_block(clip(check.output, 2000)))
    return "<details>\n<summary>❌ " + label + "</summary>\n\n" + "\n\n".join(body) + "\n\n</details>"


def hint_text(text: str) -> str:
    """A check's hint is the grader's own markdown (code spans, links): keep
    its formatting, but still defang it and keep it on one paragraph."""
    return " ".join(html.escape(defang(str(text)), quote=False).split())


def waiting_steps(results: Results) -> set[str]:
    """Steps whose failures are not news: not started, or without checks."""
    return {s.id for s in results.steps if s.status in ("not_started", "unavailable")}


def checks_to_fix(results: Results, level: str = "full", submission_path: str = "assignments") -> str:
    """The failing checks of started steps, then one line for the steps not started."""
    waiting = waiting_steps(results)
    started = [c for c in results.failing() if c.step not in waiting]
    out = []
    if started:
        out.append(f"### Checks to fix ({len(started)})")
        if level == "counts":
            for step in results.steps:
                n = sum(c.step == step.id for c in started)
                if n:
                    out.append(f"- ❌ Step {md(step.id)} · {md(step.title)}: {n} failing check{'s' * (n != 1)}")
            out.append("\n_The details did not fit here: run `python -m grading check` locally to see them._")
        else:
            out.extend(_check_section(c, level, submission_path) for c in started)
    not_started = [s.id for s in results.steps if s.status == "not_started"]
    if not_started:
        out.append(
            f"⏳ **Not started yet:** step{'s' * (len(not_started) > 1)} {', '.join(not_started)}. "
            "Open `assignments/step_NN.md` for the guide, and check your work locally with `python -m grading check N`."
        )
    if not started and not not_started and results.score >= results.max_score > 0:
        out.append("🎉 Every check passed. Well done!")
    return "\n\n".join(out)


def integrity_section(results: Results, shown: int = 10) -> str:
    """Things in the submission worth a human look; they cost no points."""
    flags = results.integrity
    if not flags:
        return ""
    lines = [
        "<details>",
        f"<summary>🔎 {len(flags)} integrity note(s) for your instructor (no points are taken for these)</summary>",
        "",
    ]
    for flag in flags[:shown]:
        where = md(str(flag.get("file", "")))
        if flag.get("line"):
            where += f", line {int(flag['line'])}"
        lines.append(f"- **{md(str(flag.get('kind', '')))}** in {where}: {md(str(flag.get('detail', '')))}")
    if len(flags) > shown:
        lines.append(f"- … and {len(flags) - shown} more")
    lines += ["", "</details>"]
    return "\n".join(lines)


def report_body(results: Results, level: str = "full", submission_path: str = "assignments") -> str:
    """What the job summary and the comment share: score, warning, table, checks."""
    parts = [f"## 🤖 GPT-2 autograder: {score_line(results)}"]
    if not results.hidden_tests_used:
        parts.append(VISIBLE_ONLY_NOTE)
    parts.append(step_table(results))
    fixes = checks_to_fix(results, level, submission_path)
    if fixes:
        parts.append(fixes)
    flags = integrity_section(results)
    if flags:
        parts.append(flags)
    return "\n\n".join(parts)
