"""The GitHub REST calls ``grading.post`` makes: find the Feedback pull
request, then create or update the one comment that carries our marker.

Called by ``grading.post.post_feedback``. Built on PyGithub, pointed at
``GITHUB_API_URL`` (so GitHub Enterprise works). Every request is retried
with backoff on 5xx, timeouts and rate limits (403/429 with Retry-After, or
a rate-limit message), and the whole conversation shares one deadline: when
the next wait would pass it, we give up with one clear log line.

Creating a comment is not idempotent, so a POST is retried only when GitHub
clearly refused it (403/429 rate limits). After a 5xx or a timeout on POST we
look for our comment again before trying once more, so a run never leaves
two comments.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from itertools import islice
from typing import Callable

import requests
from github import Auth, Github, GithubException, GithubRetry
from urllib3.exceptions import MaxRetryError

from .feedback import MARKER

DEFAULT_BUDGET = 120.0  # seconds for everything post does with GitHub
DEFAULT_REQUEST_TIMEOUT = 20.0  # seconds one request may take
FEEDBACK_BASE = "feedback"
FEEDBACK_TITLE = "Feedback"
MAX_PULLS = 300  # pull requests scanned for the title
MAX_COMMENTS = 3000  # comments scanned for our marker
_POST_ATTEMPTS = 3

Log = Callable[[str], None]


class GaveUp(Exception):
    """The deadline passed, or GitHub kept failing: one line saying why."""


class _Failure(Exception):
    """Carries the reason a request failed through urllib3 (MaxRetryError.reason)."""


def _describe(method: str | None, url: str | None, response=None, error=None) -> str:
    path = (url or "").split("?")[0]
    what = f"HTTP {response.status}" if response is not None else type(error).__name__ if error else "an error"
    return f"{method or 'request'} {path}: {what}"


class BoundedRetry(GithubRetry):
    """PyGithub's retry (it understands GitHub's rate-limit 403s), bounded by an
    absolute deadline shared by all requests, and careful with POST."""

    def __init__(self, *, deadline: float, log: Log, **kwargs):
        self.deadline = deadline
        self.log = log
        super().__init__(**kwargs)

    def new(self, **kwargs):
        kwargs.update(deadline=self.deadline, log=self.log)
        return super().new(**kwargs)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST" and status_code not in (403, 429):
            return False  # a 5xx may have created the comment: the caller looks first
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if error is not None and (method or "").upper() == "POST" and self._is_read_error(error):
            raise error  # the comment may exist: the caller looks first
        what = _describe(method, url, response, error)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.log(f"GitHub API: {what}; giving up, the time allowed for posting is used up")
            raise MaxRetryError(_pool, url, _Failure(f"{what}; time allowed for posting is used up"))
        try:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError:
            self.log(f"GitHub API: {what}; giving up after {len(self.history) + 1} attempts")
            raise
        retry_after = retry.get_retry_after(response) if response is not None and self.respect_retry_after_header else None
        wait = retry_after if retry_after is not None else retry.get_backoff_time()
        if wait > remaining:
            asked = "GitHub asks to wait" if retry_after is not None else "the next try would be in"
            self.log(f"GitHub API: {what}; {asked} {wait:.0f}s but only {remaining:.0f}s are left: giving up")
            raise MaxRetryError(_pool, url, _Failure(f"{what}; retrying would take longer than allowed"))
        self.log(f"GitHub API: {what}; retrying in {wait:.1f}s (attempt {len(retry.history) + 1})")
        return retry


@dataclass
class Pull:
    number: int
    title: str
    state: str
    html_url: str
    raw: object  # the PyGithub PullRequest


@dataclass
class Upserted:
    action: str  # "created" | "updated"
    comment_id: int
    html_url: str
    previous_body: str | None


class FeedbackClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        budget: float = DEFAULT_BUDGET,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        log: Log = print,
        pause: bool = True,
    ):
        self.log = log
        logging.getLogger("github").setLevel(logging.WARNING)  # our own log lines say what happens
        self.deadline = time.monotonic() + budget
        self.budget = budget
        self.retry = BoundedRetry(
            deadline=self.deadline,
            log=log,
            total=10,
            backoff_factor=1.0,
            backoff_max=30,
            status_forcelist=[429, 500, 502, 503, 504],
            allowed_methods=frozenset({"GET", "PATCH", "POST"}),
            raise_on_status=False,
            respect_retry_after_header=True,
            secondary_rate_wait=min(60.0, budget / 4),
            max_rate_limit_wait=budget,
        )
        self.github = Github(
            base_url=api_url.rstrip("/"),
            auth=Auth.Token(token),
            timeout=max(1, round(request_timeout)),  # PyGithub wants whole seconds
            retry=self.retry,
            per_page=100,
            user_agent="gpt2-classroom-autograder",
            seconds_between_requests=0.1 if pause else None,
            seconds_between_writes=1.0 if pause else None,
        )
        self._viewer: str | None | bool = False  # False: not asked yet

    def _check_time(self, doing: str) -> None:
        if time.monotonic() > self.deadline:
            self.log(f"GitHub API: giving up before {doing}: the {self.budget:.0f}s allowed for posting are used up")
            raise GaveUp(f"the {self.budget:.0f}s allowed for posting were used up")

    # -- the Feedback pull request ----------------------------------------------

    def find_feedback_pull(self, repository: str) -> Pull | None:
        """The pull request GitHub Classroom opened: base branch ``feedback``,
        or failing that the title ``Feedback``; an open one before a closed one."""
        self._check_time("looking for the feedback pull request")
        repo = self.github.get_repo(repository, lazy=True)
        by_base = list(islice(repo.get_pulls(state="all", base=FEEDBACK_BASE), MAX_PULLS))
        pick = _open_first(by_base)
        if pick is None:
            self._check_time("looking for the feedback pull request by title")
            titled = [p for p in islice(repo.get_pulls(state="all"), MAX_PULLS) if (p.title or "").strip().casefold() == FEEDBACK_TITLE.casefold()]
            pick = _open_first(titled)
        if pick is None:
            return None
        return Pull(pick.number, pick.title, pick.state, pick.html_url, pick)

    # -- our one comment --------------------------------------------------------

    def _viewer_login(self) -> str | None:
        """The token's own login (a personal token); None for GITHUB_TOKEN, which cannot ask."""
        if self._viewer is False:
            try:
                self._viewer = self.github.get_user().login
            except GithubException:
                self._viewer = None
        return self._viewer  # type: ignore[return-value]

    def find_comment(self, pull: Pull):
        """Our comment: it starts with the marker and was written by a bot (the
        workflow's token) or by this token's own user. The oldest wins."""
        self._check_time("reading the pull request's comments")
        for comment in islice(pull.raw.get_issue_comments(), MAX_COMMENTS):
            if not (comment.body or "").lstrip().startswith(MARKER):
                continue
            if comment.user is not None and (comment.user.type == "Bot" or comment.user.login == self._viewer_login()):
                return comment
        return None

    def upsert_comment(self, pull: Pull, render: Callable[[str | None], str]) -> Upserted:
        """Update our comment in place, or create it; ``render(previous_body)`` gives the new body."""
        for attempt in range(1, _POST_ATTEMPTS + 1):
            existing = self.find_comment(pull)
            if existing is not None:
                previous = existing.body
                self._check_time("updating the comment")
                existing.edit(render(previous))
                return Upserted("updated", existing.id, existing.html_url, previous)
            self._check_time("creating the comment")
            try:
                created = pull.raw.create_issue_comment(render(None))
                return Upserted("created", created.id, created.html_url, None)
            except (GithubException, requests.RequestException) as error:
                status = getattr(error, "status", None)
                ambiguous = status is None or status >= 500
                if not ambiguous or attempt == _POST_ATTEMPTS:
                    raise
                wait = min(2.0 ** (attempt - 1), max(0.0, self.deadline - time.monotonic()))
                self.log(f"GitHub API: creating the comment failed ({describe(error)}); checking whether it exists before retrying")
                time.sleep(wait)
        raise GaveUp("could not create the comment")  # not reached


def _open_first(pulls: list):
    for pull in pulls:
        if pull.state == "open":
            return pull
    return pulls[0] if pulls else None


def describe(error: BaseException) -> str:
    """One line about a failure, without echoing anything long."""
    if isinstance(error, GithubException):
        message = error.data.get("message") if isinstance(error.data, dict) else None
        text = f"GitHub answered HTTP {error.status}" + (f": {message}" if message else "")
    elif isinstance(error, requests.Timeout):
        text = "GitHub did not answer in time"
    elif isinstance(error, requests.RequestException):
        reason = error.args[0] if error.args else error
        inner = getattr(reason, "reason", None)
        text = str(inner) if isinstance(inner, _Failure) else f"could not reach GitHub ({type(error).__name__})"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())[:300]
