"""The Feedback pull request comment: the report, the score history of every
push, and the hidden block that carries that history to the next push.

Called by ``grading.github.post`` (and the regrade's ``--post``); pure
functions of the results model, never talking to GitHub. The comment is
found again by its marker (its first line); the history block at its very
end is read back on the next push, and anything malformed in it is dropped,
never trusted.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from ..report.model import Results
from ..report.text import points
from .markdown import report_body, size

MARKER = "<!-- gpt2-autograder:feedback -->"
_HISTORY_PREFIX = "<!-- gpt2-autograder:history "
_HISTORY_AT_END = re.compile(r"<!-- gpt2-autograder:history (\[.*\]) -->\s*\Z", re.DOTALL)

COMMENT_LIMIT = 65_536  # GitHub rejects longer comment bodies
COMMENT_BUDGET = 60_000  # what we aim for, leaving room for GitHub's own counting
HISTORY_KEPT = 100  # pushes remembered in the hidden block
HISTORY_SHOWN = 20  # pushes shown in the table

_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z$")


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



# -- the comment ---------------------------------------------------------------


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def feedback_comment(
    results: Results,
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
        entry = Entry(sha, time, float(results.score), float(results.max_score), run_url or "")
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
