"""Render a results JSON for GitHub: the job summary, the Feedback pull
request comment (with its score history) and the line annotations.

Called by ``grading.post``; pure functions of plain data, never runs tests
and never talks to GitHub. Everything that may come from a submission (a
check's message, the output its code printed, a function name) is shown
inside code blocks or HTML-escaped, so it can neither format the page,
mention people, forge the comment's hidden history, nor become a workflow
command. Hidden checks are shown by name and hint only.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .notices import escape_data, escape_property
from .render import points

# The comment is found again by this marker (its first line) and carries its
# history in a hidden block at its very end.
MARKER = "<!-- gpt2-autograder:feedback -->"
_HISTORY_PREFIX = "<!-- gpt2-autograder:history "
_HISTORY_AT_END = re.compile(r"<!-- gpt2-autograder:history (\[.*\]) -->\s*\Z", re.DOTALL)

COMMENT_LIMIT = 65_536  # GitHub rejects longer comment bodies
COMMENT_BUDGET = 60_000  # what we aim for, leaving room for GitHub's own counting
SUMMARY_BUDGET = 900_000  # a step summary may hold 1 MiB
HISTORY_KEPT = 100  # pushes remembered in the hidden block
HISTORY_SHOWN = 20  # pushes shown in the table
ANNOTATIONS_MAX = 10

STATUS = {
    "passed": ("✅", "passed"),
    "partial": ("⚠️", "partial"),
    "failed": ("❌", "failed"),
    "not_started": ("⏳", "not started"),
    "unavailable": ("➖", "no checks yet"),
}

VISIBLE_ONLY_NOTE = (
    "> [!WARNING]\n"
    "> **Graded with the visible checks only.** The hidden checks were not available for this run "
    "(the grader bundle is not set up for this assignment), so this score can differ from your final grade."
)

_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z$")
_PY_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.py$")


# -- making untrusted text harmless ------------------------------------------


def _defang(text: str) -> str:
    """No HTML comment can start or end inside untrusted text, and no @mention pings anyone."""
    return text.replace("<!--", "<\u200b!--").replace("-->", "--\u200b>").replace("@", "@\u200b")


def _html(text: str) -> str:
    """Text for an HTML context (``<summary>``): escaped, on one line."""
    return " ".join(html.escape(_defang(str(text)), quote=True).split())


def _md(text: str) -> str:
    """Text for a markdown context (a table cell, a paragraph): escaped, on one line."""
    return re.sub(r"([\\`*_\[\]|~#])", r"\\\1", _html(text))


def _identifier(text: str) -> str:
    """A function name from the submission, safe inside a code span."""
    name = str(text)[:200]
    return name if re.fullmatch(r"[\w.]+|<\w+>", name) else re.sub(r"[^\w.]", "", name)


def _code_block(text: str) -> str:
    """Untrusted text verbatim, in a fence no line of it can close."""
    text = _defang(str(text)).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _clip(text: str, limit: int) -> str:
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + f"\n… ({len(text) - limit} more characters cut)"


def size(text: str) -> int:
    """Length as GitHub may count it (UTF-16 code units), never less than characters."""
    return len(text.encode("utf-16-le")) // 2


# -- the pieces ----------------------------------------------------------------


def _location(test: dict, submission_path: str) -> dict | None:
    loc = test.get("extra_data", {}).get("location")
    if not isinstance(loc, dict):
        return None
    name, line = loc.get("file"), loc.get("line")
    if not isinstance(name, str) or not _PY_FILE.match(name) or not isinstance(line, int) or line < 1:
        return None
    function = loc.get("function") if isinstance(loc.get("function"), str) else ""
    path = f"{submission_path.strip('/')}/{name}" if submission_path.strip("/") else name
    return {"path": path, "line": line, "function": function}


def _failing(results: dict) -> list[dict]:
    return [t for t in results.get("tests", []) if t.get("status") != "passed"]


def _step_of(test: dict) -> str:
    return str(test.get("extra_data", {}).get("step", ""))


def _title(test: dict) -> str:
    extra = test.get("extra_data", {})
    return str(extra.get("title") or test.get("name", "a check"))


def score_line(results: dict) -> str:
    return f"{points(results['score'])}/{points(results['max_score'])}"


def step_table(results: dict) -> str:
    lines = ["| Step | Status | Points | Checks passed |", "|:--|:--|--:|--:|"]
    for step in results["steps"]:
        mark, word = STATUS.get(step.get("status", ""), ("❔", str(step.get("status", ""))))
        checks = f"{step.get('checks_passed', 0)}/{step.get('checks', 0)}" if step.get("checks") else "–"
        lines.append(
            f"| {_md(step['id'])} · {_md(step['title'])} | {mark} {word} "
            f"| {points(step['score'])}/{points(step['max_score'])} | {checks} |"
        )
    return "\n".join(lines)


def _check_section(test: dict, level: str, submission_path: str) -> str:
    """One failing check. ``level``: "full" (message, hint, where, output),
    "brief" (message clipped, hint, where) or "title" (one line)."""
    extra = test.get("extra_data", {})
    hidden = test.get("visibility") == "hidden"
    text = _md if level == "title" else _html  # a list item, or inside <summary>
    label = f"Step {text(_step_of(test))} · {text(_title(test))}" + (" (hidden check)" if hidden else "")
    if level == "title":
        return f"- ❌ {label}"
    body = []
    if hidden:
        body.append("This is a hidden check: its details stay hidden, and its hint tells you where to look.")
    elif extra.get("message"):
        body.append(_code_block(_clip(extra["message"], 4000 if level == "full" else 400)))
    if extra.get("hint"):
        body.append(f"**Hint:** {_hint(extra['hint'])}")
    where = _location(test, submission_path)
    if where:
        function = _identifier(where["function"])
        in_function = f", in `{function}`" if function else ""
        body.append(f"📍 `{where['path']}`, line {where['line']}{in_function}")
    if level == "full" and not hidden and extra.get("output"):
        body.append("What your code printed:\n\n" + _code_block(_clip(extra["output"], 2000)))
    return "<details>\n<summary>❌ " + label + "</summary>\n\n" + "\n\n".join(body) + "\n\n</details>"


def _hint(text: str) -> str:
    """A check's hint is the grader's own markdown (code spans, links): keep
    its formatting, but still defang it and keep it on one paragraph."""
    return " ".join(html.escape(_defang(str(text)), quote=False).split())


def checks_to_fix(results: dict, level: str = "full", submission_path: str = "assignments") -> str:
    """The failing checks of started steps, then one line for the steps not started."""
    statuses = {s["id"]: s.get("status") for s in results["steps"]}
    started = [t for t in _failing(results) if statuses.get(_step_of(t)) not in ("not_started", "unavailable")]
    out = []
    if started:
        out.append(f"### Checks to fix ({len(started)})")
        if level == "counts":
            for step in results["steps"]:
                n = sum(_step_of(t) == step["id"] for t in started)
                if n:
                    out.append(f"- ❌ Step {_md(step['id'])} · {_md(step['title'])}: {n} failing check{'s' * (n != 1)}")
            out.append("\n_The details did not fit here: run `python -m grading check` locally to see them._")
        else:
            out.extend(_check_section(t, level, submission_path) for t in started)
    waiting = [s["id"] for s in results["steps"] if s.get("status") == "not_started"]
    if waiting:
        out.append(
            f"⏳ **Not started yet:** step{'s' * (len(waiting) > 1)} {', '.join(waiting)}. "
            "Open `assignments/step_NN.md` for the guide, and check your work locally with `python -m grading check N`."
        )
    if not started and not waiting and results.get("score", 0) >= results.get("max_score", 0) > 0:
        out.append("🎉 Every check passed. Well done!")
    return "\n\n".join(out)


def report_body(results: dict, level: str = "full", submission_path: str = "assignments") -> str:
    """What the job summary and the comment share: score, warning, table, checks."""
    parts = [f"## 🤖 GPT-2 autograder: {score_line(results)}"]
    if not results.get("hidden_tests_used", True):
        parts.append(VISIBLE_ONLY_NOTE)
    parts.append(step_table(results))
    fixes = checks_to_fix(results, level, submission_path)
    if fixes:
        parts.append(fixes)
    flags = integrity_section(results)
    if flags:
        parts.append(flags)
    return "\n\n".join(parts)


def integrity_section(results: dict, shown: int = 10) -> str:
    """Things in the submission worth a human look; they cost no points."""
    flags = results.get("integrity") or []
    if not flags:
        return ""
    lines = [
        "<details>",
        f"<summary>🔎 {len(flags)} integrity note(s) for your instructor (no points are taken for these)</summary>",
        "",
    ]
    for flag in flags[:shown]:
        where = _md(str(flag.get("file", "")))
        if flag.get("line"):
            where += f", line {int(flag['line'])}"
        lines.append(f"- **{_md(str(flag.get('kind', '')))}** in {where}: {_md(str(flag.get('detail', '')))}")
    if len(flags) > shown:
        lines.append(f"- … and {len(flags) - shown} more")
    lines += ["", "</details>"]
    return "\n".join(lines)


# -- the job summary -----------------------------------------------------------


def job_summary(results: dict, submission_path: str = "assignments") -> str:
    for level in ("full", "brief", "title", "counts"):
        text = report_body(results, level, submission_path) + "\n"
        if size(text) <= SUMMARY_BUDGET:
            return text
    return text[:SUMMARY_BUDGET] + "\n"


# -- the score history ---------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    sha: str
    time: str  # ISO 8601, UTC, "2026-11-21T05:03:00Z"
    score: float
    max: float
    run: str = ""

    def as_json(self) -> dict:
        return {"sha": self.sha, "time": self.time, "score": self.score, "max": self.max, "run": self.run}


def read_history(body: str | None) -> list[Entry]:
    """The history block at the end of an earlier version of the comment;
    anything malformed is dropped, never trusted."""
    match = _HISTORY_AT_END.search(body or "")
    if not match:
        return []
    try:
        items = json.loads(match.group(1))
    except ValueError:
        return []
    entries = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        sha, time, score, maximum, run = (item.get(k) for k in ("sha", "time", "score", "max", "run"))
        if not (isinstance(sha, str) and _SHA.match(sha) and isinstance(time, str) and _TIME.match(time)):
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (score, maximum)):
            continue
        run = run if isinstance(run, str) and run.startswith(("https://", "http://")) and len(run) < 500 else ""
        entries.append(Entry(sha, time, float(score), float(maximum), run))
    return entries[-HISTORY_KEPT:]


def add_to_history(history: list[Entry], entry: Entry) -> list[Entry]:
    """A re-run of the same commit replaces its row; otherwise the push is appended."""
    kept = [e for e in history if e.sha != entry.sha]
    return (kept + [entry])[-HISTORY_KEPT:]


def _history_block(history: list[Entry]) -> str:
    data = json.dumps([e.as_json() for e in history], separators=(",", ":"), ensure_ascii=True)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"{_HISTORY_PREFIX}{data} -->"


def _history_table(history: list[Entry], shown: int, server_url: str, repository: str) -> str:
    if not history:
        return ""
    lines = ["### Score history", "", "| Push | Commit | Graded (UTC) | Score |", "|--:|:--|:--|--:|"]
    rows = list(enumerate(history, start=1))[::-1][:shown]
    for number, e in rows:
        commit = f"`{e.sha[:7]}`"
        if server_url and repository:
            commit = f"[{commit}]({server_url}/{repository}/commit/{e.sha})"
        when = e.time.replace("T", " ").replace("Z", "")
        score = f"{points(e.score)}/{points(e.max)}"
        if e.run:
            score = f"[{score}]({e.run})"
        lines.append(f"| {number} | {commit} | {when} | {score} |")
    if len(history) > shown:
        lines.append(f"\n_… and {len(history) - shown} earlier push{'es' * (len(history) - shown != 1)}._")
    return "\n".join(lines)


# -- the Feedback pull request comment ----------------------------------------


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def feedback_comment(
    results: dict,
    *,
    previous_body: str | None = None,
    sha: str | None = None,
    run_url: str | None = None,
    server_url: str = "",
    repository: str = "",
    time: str | None = None,
    submission_path: str = "assignments",
) -> str:
    """The whole comment: marker, report, history table, hidden history block.
    Details are cut, level by level, until it fits under GitHub's limit."""
    time = time or now_utc()
    history = read_history(previous_body)
    if sha and _SHA.match(sha):
        entry = Entry(sha, time, float(results["score"]), float(results["max_score"]), run_url or "")
        history = add_to_history(history, entry)
    about = []
    if sha and _SHA.match(sha):
        commit = f"`{sha[:7]}`"
        if server_url and repository:
            commit = f"[{commit}]({server_url}/{repository}/commit/{sha})"
        about.append(f"commit {commit}")
    about.append(f"graded {time.replace('T', ' ').replace('Z', ' UTC')}")
    if run_url:
        about.append(f"[see the full run]({run_url})")
    footer = (
        "<sub>This comment is updated after every push. Run `python -m grading check` to see "
        "the visible checks on your own machine.</sub>"
    )
    for level, shown in (("full", HISTORY_SHOWN), ("brief", HISTORY_SHOWN), ("title", 10), ("counts", 5), ("counts", 0)):
        parts = [MARKER, report_body(results, level, submission_path), " · ".join(about)]
        table = _history_table(history, shown, server_url, repository) if shown else ""
        if table:
            parts.append(table)
        parts += [footer, _history_block(history)]
        body = "\n\n".join(parts) + "\n"
        if size(body) <= COMMENT_BUDGET:
            return body
    # Still too long (it cannot be with 12 steps, but stay safe): keep the
    # head, and always the marker and the history block.
    tail = "\n\n_… the rest did not fit in one comment._\n\n" + _history_block(history[-20:]) + "\n"
    room = COMMENT_BUDGET - size(tail)
    head = body
    while size(head) > room:
        head = head[: max(0, len(head) - (size(head) - room) - 1)]
    return head + tail


# -- annotations ---------------------------------------------------------------


_KIND_RANK = {"exception": 0, "crash": 1, "timeout": 2, "error": 3}


def annotations(results: dict, submission_path: str = "assignments", limit: int = ANNOTATIONS_MAX) -> list[str]:
    """``::error file=…,line=…`` lines on the student's own lines, one per
    line of code, most useful first: errors raised by their code, then lines
    that fail the most checks, then earlier steps. Every value is escaped."""
    groups: dict[tuple[str, int], list[dict]] = {}
    waiting = {s["id"] for s in results["steps"] if s.get("status") in ("not_started", "unavailable")}
    for test in _failing(results):
        if _step_of(test) in waiting:
            continue  # a starter's TODO is not news
        where = _location(test, submission_path)
        if where:
            groups.setdefault((where["path"], where["line"]), []).append(test)

    def rank(item):
        (path, line), tests = item
        kind = min(_KIND_RANK.get(str(t.get("extra_data", {}).get("kind")), 9) for t in tests)
        return (kind, -len(tests), min(_step_of(t) for t in tests), path, line)

    lines = []
    for (path, line), tests in sorted(groups.items(), key=rank)[:limit]:
        first = sorted(tests, key=lambda t: t.get("visibility") == "hidden")[0]
        extra = first.get("extra_data", {})
        title = f"Step {_step_of(first)}: {_title(first)}"
        if first.get("visibility") == "hidden":
            message = f"A hidden check failed here: {_title(first)}."
        else:
            message = str(extra.get("message") or "this check failed here")
        if extra.get("hint"):
            message += f"\nHint: {extra['hint']}"
        if len(tests) > 1:
            message += f"\n({len(tests)} failing checks point to this line.)"
        message = _clip(message, 1500)
        lines.append(
            f"::error file={escape_property(path)},line={line},title={escape_property(_clip(title, 200))}::{escape_data(message)}"
        )
    return lines
