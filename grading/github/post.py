"""``python -m grading post --results PATH``: publish a results JSON on GitHub.

Run by the workflow after ``grading run``, in the GitHub Actions
environment. In order, each independent of the next:

1. the job summary, appended to ``$GITHUB_STEP_SUMMARY``;
2. ``::error file=…,line=…`` annotations on the student's own lines;
3. the one comment on the Feedback pull request, created or updated in
   place, carrying the score history across pushes.

A failure to post never changes the score: ``run`` has already printed the
Classroom notices. ``post_feedback`` (the comment alone, for one repository)
is also what the regrade tooling calls. Rendering lives in
``grading.github.feedback`` and ``grading.github.summary``, the REST calls in
``grading.github.client``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import requests
from github import GithubException

from ..report.model import Results
from ..report.notices import neutralize
from ..report.text import score_line
from . import feedback, summary
from .client import DEFAULT_BUDGET, DEFAULT_REQUEST_TIMEOUT, FEEDBACK_BASE, FEEDBACK_TITLE, FeedbackClient, GaveUp, describe

NO_PULL = f"no feedback pull request (base branch '{FEEDBACK_BASE}' or title '{FEEDBACK_TITLE}') was found, so no comment was posted"


class Status(str):
    """The one-line status ``post_feedback`` returns; also says whether it went well.
    ``kind``: "created", "updated", "no_pull" or "failed"."""

    def __new__(cls, line: str, kind: str, pull: int | None = None, url: str = ""):
        self = super().__new__(cls, line)
        self.kind, self.pull, self.url = kind, pull, url
        return self

    @property
    def ok(self) -> bool:
        return self.kind != "failed"


def server_url_for(api_url: str) -> str:
    """``https://api.github.com`` → ``https://github.com``; ``https://ghe.example/api/v3`` → ``https://ghe.example``."""
    url = api_url.rstrip("/")
    if url.endswith("/api/v3"):
        return url[: -len("/api/v3")]
    return url.replace("://api.", "://", 1)


def post_feedback(
    results: Results,
    *,
    repository: str,
    token: str,
    api_url: str,
    sha: str | None = None,
    run_url: str | None = None,
    server_url: str | None = None,
    submission_path: str = "assignments",
    budget: float = DEFAULT_BUDGET,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    log=print,
) -> str:
    """Create or update the feedback comment on ``repository``'s Feedback pull
    request. Never raises for GitHub or network trouble: returns one line
    (a ``Status``: ``.ok``, ``.kind``) saying what happened."""
    server = server_url or server_url_for(api_url)
    if not token:
        return Status(f"{repository}: could not post the feedback comment: no GitHub token was given", "failed")
    try:
        client = FeedbackClient(api_url, token, budget=budget, request_timeout=request_timeout, log=log)
        pull = client.find_feedback_pull(repository)
        if pull is None:
            return Status(f"{repository}: {NO_PULL}", "no_pull")

        def render(previous_body: str | None) -> str:
            return feedback.feedback_comment(
                results,
                previous_body=previous_body,
                sha=sha,
                run_url=run_url,
                server_url=server,
                repository=repository,
                submission_path=submission_path,
            )

        done = client.upsert_comment(pull, render)
        score = score_line(results)
        line = f"{repository}: {done.action} the feedback comment on pull request #{pull.number} (score {score}): {done.html_url}"
        return Status(line, done.action, pull.number, done.html_url)
    except (GithubException, requests.RequestException, GaveUp) as error:
        return Status(f"{repository}: could not post the feedback comment: {describe(error)}", "failed")


# -- the command ---------------------------------------------------------------


def register(verbs):
    parser = verbs.add_parser("post", help="post feedback for a results JSON: job summary, annotations, Feedback pull request comment")
    parser.add_argument("--results", required=True, help="the results JSON written by `grading run`")
    parser.add_argument("--submission-path", default="assignments", help="the submission folder, relative to the repository root (for annotations)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help=f"seconds allowed for talking to GitHub (default {DEFAULT_BUDGET:.0f})")
    parser.set_defaults(func=cmd_post)


def _say(line: str) -> None:
    print(neutralize(" ".join(line.split())), flush=True)


def _append_summary(path: str | None, text: str) -> None:
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as error:
        _say(f"could not write the job summary: {error.strerror}")


def cmd_post(args) -> int:
    try:
        data = json.loads(Path(args.results).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not {"score", "max_score", "steps", "tests"} <= data.keys():
            raise ValueError("not a results JSON")
        results = Results.from_json(data)
    except (OSError, ValueError, TypeError, KeyError) as error:
        print(f"error: cannot read the results JSON '{args.results}': {type(error).__name__}", file=sys.stderr)
        _append_summary(
            os.environ.get("GITHUB_STEP_SUMMARY"),
            "## 🤖 GPT-2 autograder\n\n> ❌ The grader produced no results for this push: see the log of the Grade step.\n",
        )
        return 2
    env = os.environ
    summary_path = env.get("GITHUB_STEP_SUMMARY")

    # 1. The job summary.
    if summary_path:
        _append_summary(summary_path, summary.job_summary(results, args.submission_path))
    else:
        _say("GITHUB_STEP_SUMMARY is not set: no job summary written")

    # 2. Annotations on the student's lines (each value escaped).
    for line in summary.annotations(results, args.submission_path):
        print(line, flush=True)

    # 3. The Feedback pull request comment.
    repository, token = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_TOKEN", "")
    if not repository or not token:
        missing = " and ".join(n for n, v in (("GITHUB_REPOSITORY", repository), ("GITHUB_TOKEN", token)) if not v)
        _say(f"{missing} not set: the feedback comment was not posted")
        _append_summary(summary_path, f"\n> The feedback comment was not posted: {missing} not set.\n")
        return 1
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    run_id = env.get("GITHUB_RUN_ID", "")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if server and run_id.isdigit() else None
    status = post_feedback(
        results,
        repository=repository,
        token=token,
        api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
        sha=env.get("GITHUB_SHA") or None,
        run_url=run_url,
        server_url=server or None,
        submission_path=args.submission_path,
        budget=args.budget,
        log=_say,
    )
    _say(status)
    if status.kind == "no_pull":
        _append_summary(summary_path, f"\n> ℹ️ No feedback pull request was found (base branch `{FEEDBACK_BASE}` or title `{FEEDBACK_TITLE}`), so this summary is the only feedback for this push.\n")
    elif status.kind == "failed":
        _append_summary(summary_path, "\n> ⚠️ The feedback comment could not be posted this time; your score above is not affected.\n")
    else:
        _append_summary(summary_path, f"\n> 💬 The [feedback comment]({status.url}) on pull request #{status.pull} was {status.kind}.\n")
    return 0 if status.ok else 1
