"""``grading post`` against a fake GitHub REST server on 127.0.0.1: finding
the Feedback pull request, one comment created then updated in place,
pagination, retries, and a bounded time when GitHub does not answer. Each
test checks exactly which requests were sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading.github.feedback import MARKER, read_history
from grading.github.post import post_feedback
from grading.report.model import Results

from .conftest import ROOT
from .fixtures.fake_github import BOT, STUDENT, FakeGitHub

FIXTURES = Path(__file__).parent / "fixtures"
REPO = "classroom/gpt2-student"
PULLS_BY_BASE = f"GET /repos/{REPO}/pulls?base=feedback&state=all"
PULLS_ALL = f"GET /repos/{REPO}/pulls?state=all"
SHA1, SHA2 = "1" * 40, "2" * 40


def comments(n: int) -> str:
    return f"GET /repos/{REPO}/issues/{n}/comments"


def results(name: str = "partial") -> dict:
    return json.loads((FIXTURES / f"results_{name}.json").read_text())


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """The fake server is local: no proxy from the environment may sit in between."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gh():
    with FakeGitHub(REPO) as server:
        yield server


def post(gh: FakeGitHub, res: dict | None = None, *, sha: str = SHA1, log: list | None = None, **options):
    return post_feedback(
        Results.from_json(res or results()),
        repository=gh.repository,
        token="ghs_test_token",
        api_url=gh.api_url,
        sha=sha,
        run_url="https://github.example/classroom/gpt2-student/actions/runs/7",
        log=(log.append if log is not None else lambda line: None),
        **options,
    )


def lines(gh: FakeGitHub) -> list[str]:
    return [r.line for r in gh.requests]


# -- finding the pull request ---------------------------------------------------


def test_no_feedback_pull_request_posts_nothing(gh):
    gh.add_pull(1, title="Add README", base="main")
    status = post(gh)
    assert status.kind == "no_pull" and status.ok
    assert "no feedback pull request" in status
    assert lines(gh) == [PULLS_BY_BASE, PULLS_ALL]


def test_pull_request_found_by_base_branch(gh):
    gh.add_pull(1, title="Feedback", base="main")  # right title, wrong base: not chosen
    gh.add_pull(2, title="Old feedback", base="feedback", state="closed")
    gh.add_pull(3, title="Review", base="feedback")  # open, base feedback: chosen
    status = post(gh)
    assert status.kind == "created" and status.pull == 3
    assert lines(gh) == [PULLS_BY_BASE, comments(3), f"POST /repos/{REPO}/issues/3/comments"]
    sent = gh.sent("POST")[0]
    assert sent.headers["authorization"] == "token ghs_test_token"
    assert set(sent.body) == {"body"}
    assert sent.body["body"].startswith(MARKER)
    assert "GPT-2 autograder: 20.5/100" in sent.body["body"]
    assert [e.sha for e in read_history(sent.body["body"])] == [SHA1]
    assert gh.comments[1] == [] and gh.comments[2] == []


def test_pull_request_found_by_title(gh):
    gh.add_pull(1, title="Add README", base="main")
    gh.add_pull(2, title="Feedback", base="main")
    status = post(gh)
    assert status.kind == "created" and status.pull == 2
    assert lines(gh) == [PULLS_BY_BASE, PULLS_ALL, comments(2), f"POST /repos/{REPO}/issues/2/comments"]


def test_github_enterprise_api_prefix():
    with FakeGitHub(REPO, prefix="/api/v3") as gh:
        gh.add_pull(4)
        status = post(gh)
        assert status.kind == "created"
        assert all(r.raw_path.startswith("/api/v3/repos/") for r in gh.requests)
        assert lines(gh) == [PULLS_BY_BASE, comments(4), f"POST /repos/{REPO}/issues/4/comments"]


# -- one comment, created then updated ----------------------------------------


def test_create_then_update_the_same_comment(gh):
    gh.add_pull(5)
    gh.add_comment(5, "Thanks for the feedback!", STUDENT)
    first = post(gh, results("partial"), sha=SHA1)
    second = post(gh, results("all_passed"), sha=SHA2)
    assert (first.kind, second.kind) == ("created", "updated")
    ours = [c for c in gh.comments[5] if c["user"] == BOT]
    assert len(ours) == 1 and len(gh.comments[5]) == 2
    patch = gh.sent("PATCH")[0]
    assert patch.path == f"/repos/{REPO}/issues/comments/{ours[0]['id']}"
    assert lines(gh) == [
        PULLS_BY_BASE, comments(5), f"POST /repos/{REPO}/issues/5/comments",
        PULLS_BY_BASE, comments(5), f"PATCH /repos/{REPO}/issues/comments/{ours[0]['id']}",
    ]
    body = patch.body["body"]
    assert body == ours[0]["body"] and "GPT-2 autograder: 100/100" in body
    history = read_history(body)
    assert [(e.sha, e.score) for e in history] == [(SHA1, 20.5), (SHA2, 100.0)]
    assert "| 2 | " in body and "| 1 | " in body  # both pushes in the table


def test_rerun_of_the_same_commit_replaces_its_history_row(gh):
    gh.add_pull(5)
    post(gh, sha=SHA1)
    post(gh, sha=SHA1)
    assert [e.sha for e in read_history(gh.comments[5][0]["body"])] == [SHA1]


def test_more_than_30_comments_are_paged_through(gh):
    gh.add_pull(6)
    for i in range(120):
        gh.add_comment(6, f"comment {i}", STUDENT)
    gh.add_comment(6, MARKER + "\nforged by the student", STUDENT)  # a marker, but not ours
    ours = gh.add_comment(6, MARKER + "\nold feedback", BOT)
    for i in range(30):
        gh.add_comment(6, f"later comment {i}", STUDENT)
    status = post(gh)
    assert status.kind == "updated"
    assert lines(gh) == [
        PULLS_BY_BASE,
        comments(6),
        comments(6) + "?page=2",
        "GET /user",  # the forged marker: is its author this token's user? (403 for GITHUB_TOKEN)
        f"PATCH /repos/{REPO}/issues/comments/{ours['id']}",
    ]
    assert gh.requests[1].query["per_page"] == "100"
    assert len(gh.comments[6]) == 152
    assert "forged by the student" in gh.comments[6][120]["body"]


def test_a_personal_token_updates_its_own_comment(gh):
    gh.viewer = "instructor"
    gh.add_pull(6)
    mine = gh.add_comment(6, MARKER + "\nposted by the regrade tool", {"login": "instructor", "type": "User", "id": 7})
    status = post(gh)
    assert status.kind == "updated"
    assert lines(gh) == [PULLS_BY_BASE, comments(6), "GET /user", f"PATCH /repos/{REPO}/issues/comments/{mine['id']}"]


# -- retries and bounded time ----------------------------------------------------


def test_a_502_once_then_success(gh):
    gh.add_pull(7)
    gh.fail("GET", r"/pulls$", 502)
    log: list[str] = []
    status = post(gh, log=log)
    assert status.kind == "created"
    assert lines(gh) == [PULLS_BY_BASE, PULLS_BY_BASE, comments(7), f"POST /repos/{REPO}/issues/7/comments"]
    assert any("HTTP 502" in line and "retrying" in line for line in log)


def test_a_502_on_update_is_retried(gh):
    gh.add_pull(7)
    ours = gh.add_comment(7, MARKER + "\nold", BOT)
    gh.fail("PATCH", r"/comments/\d+$", 502)
    status = post(gh)
    assert status.kind == "updated"
    patch = f"PATCH /repos/{REPO}/issues/comments/{ours['id']}"
    assert lines(gh) == [PULLS_BY_BASE, comments(7), patch, patch]
    assert gh.comments[7][0]["body"].startswith(MARKER + "\n\n## ")


@pytest.mark.parametrize("status_code", [403, 429])
def test_rate_limited_with_retry_after(gh, status_code):
    gh.add_pull(8)
    gh.fail("POST", r"/issues/8/comments$", status_code, headers={"Retry-After": "1"},
            body={"message": "You have exceeded a secondary rate limit."})
    log: list[str] = []
    start = time.monotonic()
    status = post(gh, log=log)
    assert status.kind == "created"
    assert time.monotonic() - start >= 1.0  # it waited as asked
    post_line = f"POST /repos/{REPO}/issues/8/comments"
    assert lines(gh) == [PULLS_BY_BASE, comments(8), post_line, post_line]
    assert len(gh.comments[8]) == 1
    assert any(f"HTTP {status_code}" in line and "retrying in 1.0s" in line for line in log)


def test_retry_after_longer_than_the_budget_gives_up_at_once(gh):
    gh.add_pull(8)
    gh.fail("GET", r"/pulls$", 403, headers={"Retry-After": "3600"}, body={"message": "secondary rate limit"})
    log: list[str] = []
    start = time.monotonic()
    status = post(gh, log=log, budget=20)
    assert time.monotonic() - start < 5
    assert status.kind == "failed" and not status.ok
    assert "could not post the feedback comment" in status and "HTTP 403" in status
    assert lines(gh) == [PULLS_BY_BASE]
    assert any("GitHub asks to wait 3600s" in line and "giving up" in line for line in log)


def test_a_server_that_never_answers_is_given_up_on_in_bounded_time(gh):
    gh.add_pull(9)
    gh.fail("GET", r".", hang=True, times=100)
    log: list[str] = []
    start = time.monotonic()
    status = post(gh, log=log, budget=2, request_timeout=1)
    elapsed = time.monotonic() - start
    assert status.kind == "failed"
    assert elapsed < 8, elapsed
    assert all(line == PULLS_BY_BASE for line in lines(gh)) and 1 <= len(gh.requests) <= 3
    assert any("giving up" in line for line in log)


def test_permission_denied_is_not_retried(gh):
    gh.add_pull(10)
    gh.fail("POST", r"/comments$", 403, body={"message": "Resource not accessible by integration"})
    status = post(gh)
    assert status.kind == "failed"
    assert "HTTP 403: Resource not accessible by integration" in status
    assert lines(gh) == [PULLS_BY_BASE, comments(10), f"POST /repos/{REPO}/issues/10/comments"]


def test_a_502_on_create_that_did_create_leaves_one_comment(gh):
    gh.add_pull(11)
    gh.fail("POST", r"/comments$", 502, apply=True)  # created, but the answer was lost
    status = post(gh)
    assert status.kind == "updated"
    [ours] = gh.comments[11]
    assert lines(gh) == [
        PULLS_BY_BASE, comments(11), f"POST /repos/{REPO}/issues/11/comments",
        comments(11), f"PATCH /repos/{REPO}/issues/comments/{ours['id']}",
    ]
    assert [e.sha for e in read_history(ours["body"])] == [SHA1]


def test_a_502_on_create_that_did_not_create_posts_once_more(gh):
    gh.add_pull(12)
    gh.fail("POST", r"/comments$", 502)
    status = post(gh)
    assert status.kind == "created"
    post_line = f"POST /repos/{REPO}/issues/12/comments"
    assert lines(gh) == [PULLS_BY_BASE, comments(12), post_line, comments(12), post_line]
    assert len(gh.comments[12]) == 1


def test_a_timeout_on_create_looks_before_posting_again(gh):
    gh.add_pull(13)
    gh.fail("POST", r"/comments$", hang=True)
    status = post(gh, request_timeout=1)
    assert status.kind == "created"
    post_line = f"POST /repos/{REPO}/issues/13/comments"
    assert lines(gh) == [PULLS_BY_BASE, comments(13), post_line, comments(13), post_line]
    assert len(gh.comments[13]) == 1


# -- the command, as the workflow runs it --------------------------------------


def run_post(gh: FakeGitHub, tmp_path: Path, fixture: str = "partial", **env_overrides) -> tuple[subprocess.CompletedProcess, str]:
    summary = tmp_path / "summary.md"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        GITHUB_API_URL=gh.api_url,
        GITHUB_REPOSITORY=gh.repository,
        GITHUB_TOKEN="ghs_test_token",
        GITHUB_SHA=SHA1,
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_RUN_ID="42",
        GITHUB_SERVER_URL="https://github.example",
        **env_overrides,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "grading", "post", "--results", str(FIXTURES / f"results_{fixture}.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    return proc, summary.read_text() if summary.exists() else ""


def test_cli_writes_summary_annotations_and_comment(gh, tmp_path):
    gh.add_pull(1)
    proc, summary = run_post(gh, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert [l for l in out if l.startswith("::")] == [
        l for l in out if l.startswith("::error file=assignments/step_0")
    ]
    assert out[0].startswith("::error file=assignments/step_05.py,line=28,title=Step 05%3A ")
    assert out[1].startswith("::error file=assignments/step_04.py,line=41,title=Step 04%3A ")
    assert "created the feedback comment on pull request #1" in out[-1]
    assert summary.startswith("## 🤖 GPT-2 autograder: 20.5/100")
    assert "The [feedback comment](https://github.example/" in summary
    body = gh.comments[1][0]["body"]
    assert "https://github.example/classroom/gpt2-student/actions/runs/42" in body
    assert f"https://github.example/classroom/gpt2-student/commit/{SHA1}" in body


def test_cli_without_a_feedback_pull_request_exits_0_and_says_so(gh, tmp_path):
    proc, summary = run_post(gh, tmp_path, fixture="all_passed")
    assert proc.returncode == 0, proc.stderr
    assert "no feedback pull request" in proc.stdout
    assert "No feedback pull request was found" in summary
    assert lines(gh) == [PULLS_BY_BASE, PULLS_ALL]


def test_cli_posting_failure_keeps_the_summary_and_exits_1(gh, tmp_path):
    gh.add_pull(1)
    gh.fail("POST", r"/comments$", 403, body={"message": "Resource not accessible by integration"})
    proc, summary = run_post(gh, tmp_path)
    assert proc.returncode == 1
    assert "could not post the feedback comment" in proc.stdout
    assert summary.startswith("## 🤖 GPT-2 autograder: 20.5/100")
    assert "could not be posted this time" in summary


def test_cli_with_unreadable_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "grading", "post", "--results", str(tmp_path / "missing.json")],
        cwd=ROOT, env={**os.environ, "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot read the results JSON" in proc.stderr
    assert "The grader produced no results" in (tmp_path / "s.md").read_text()
