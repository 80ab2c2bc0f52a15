"""The classroom workflow end to end, in a real Actions runner (nektos/act)
on this machine, offline: the job `run-autograding-tests` of
`.github/workflows/classroom.yml` runs for pushes to a student repository made
by the release (`actions_runner.release`), fetches the grader bundle from a local git
server, grades, prints the Classroom notices and posts the Feedback comment to
a stand-in GitHub API (see `actions_runner.py` for the set-up).

The pushes build on one another, as a student's do, in one module-scoped
fixture chain: the first push installs the environment and caches it, the
later ones restore it: the solutions, then a forged step on a repository
without the bundle. Where no runner can be had (no docker or act), the
module says why and skips on a developer's machine, and fails in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass

import pytest

from .actions_runner import GRADER_REPO, ROOT, ActRun, Classroom, release, remove_toolcache, runner_problem
from .fixtures.fake_github import BOT, Request

pytestmark = pytest.mark.timeout(1800)  # the first test builds the runner image and makes the cold push

HOSTILE = ROOT / "tests" / "suite" / "hostile" / "workflow_commands.py"


@dataclass
class Push:
    run: ActRun
    comments: list[dict]  # the Feedback pull request's comments after the push
    api: list[Request]  # what the push asked the stand-in GitHub API
    git: list[str]  # what the push asked the git server

    def explain(self) -> str:
        return f"act exited with {self.run.returncode} after {self.run.seconds:.0f} s; the log ends:\n{self.run.tail()}"


def push(room: Classroom, **options) -> Push:
    api, git = len(room.github.requests), len(room.git.requests)
    run = room.push(**options)
    return Push(run, room.comments(), room.github.requests[api:], room.git.requests[git:])


def report(run: ActRun) -> dict:
    """The one Autograding report the runner acted on, as numbers."""
    reports = run.commands("notice", "Autograding report")
    assert len(reports) == 1, f"expected one Autograding report notice, found {reports}"
    # and no line of the steps' output reads like one (act echoes the job
    # summary, where a failing check's text is quoted, as it is: that is no output)
    looks_like = [line for line in run.output() if line.lstrip().startswith("::notice title=Autograding")]
    assert looks_like == [], looks_like
    complete = run.commands("notice", "Autograding complete")
    assert len(complete) == 1, f"expected one Autograding complete notice, found {complete}"
    numbers = json.loads(reports[0])
    match = re.fullmatch(r"Points (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)", complete[0])
    assert match and (float(match[1]), float(match[2])) == (numbers["totalPoints"], numbers["maxPoints"]), complete[0]
    return numbers


def history(body: str) -> dict[str, float]:
    """The score history table of a Feedback comment: short commit → points."""
    rows = re.findall(r"^\|\s*\d+\s*\|.*?`([0-9a-f]{7})`.*\|\s*\[?(\d+(?:\.\d+)?)/\d+(?:\.\d+)?", body, re.MULTILINE)
    return {sha: float(points) for sha, points in rows}


def cache_key(run: ActRun, how: str) -> str:
    match = re.search(rf"{how}:? (grader-venv-\S+)", run.log)
    assert match, f"no cache line '{how} …' in the log"
    return match.group(1)


# -- the fixture chain ------------------------------------------------------------------


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    problem = runner_problem()
    if problem:
        why = f"the workflow's end-to-end test needs docker and act: {problem}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    remove_toolcache()  # the tool cache comes from the runner image, as on a new runner
    out = release(tmp_path_factory.mktemp("release") / "out")
    with Classroom(tmp_path_factory.mktemp("classroom"), out) as room:
        yield room


@pytest.fixture(scope="module")
def first_push(classroom) -> Push:
    """The template as GitHub Classroom creates it: the starters."""
    return push(classroom)


@pytest.fixture(scope="module")
def second_push(classroom, first_push) -> Push:
    """The reference solutions copied in and committed."""
    for source in sorted((ROOT / "solutions").glob("*.py")):
        shutil.copy(source, classroom.student / "assignments" / source.name)
    classroom.commit("Solutions")
    return push(classroom)


@pytest.fixture(scope="module")
def forged_push_without_bundle(classroom, second_push) -> Push:
    """Step 02 prints forged Classroom notices and workflow commands at import,
    pushed to a repository where GRADER_REPO is not set: the template's own
    grader grades it, with the visible checks. (One push for two cases: the
    notices are guarded by the same grading code whichever copy runs it.)"""
    step = classroom.student / "assignments" / "step_02.py"
    step.write_text(step.read_text() + "\n\n" + HOSTILE.read_text())
    classroom.commit("Forged notices, without the grader bundle")
    return push(classroom, bundle=False)


# -- the cases ---------------------------------------------------------------------------


def test_first_push_grades_the_starters_and_creates_the_comment(first_push):
    run = first_push.run
    assert run.succeeded, first_push.explain()
    assert report(run) == {"totalPoints": 0, "maxPoints": 100}
    # the bundle came from the git server, after checkout asked the API for its default branch
    assert f"GET /repos/{GRADER_REPO}" in [r.line for r in first_push.api]
    assert any(r.startswith(f"POST /{GRADER_REPO}/git-upload-pack") for r in first_push.git), first_push.git
    # one comment, created by this push, carrying its commit and points
    posts = [r for r in first_push.api if r.method == "POST"]
    assert [r.path for r in posts] == ["/repos/classroom/gpt2-student/issues/1/comments"]
    [comment] = first_push.comments
    assert comment["user"]["login"] == BOT["login"]
    assert history(comment["body"]) == {run.sha[:7]: 0}
    # nothing cached yet: the environment is installed, then saved under a lower-case key
    missed, saved = cache_key(run, "Cache not found for input keys"), cache_key(run, "Cache saved with key")
    assert missed == saved == saved.lower()
    assert "Main Install the dependencies" in run.steps()


def test_second_push_scores_100_and_updates_the_same_comment(first_push, second_push):
    run = second_push.run
    assert run.succeeded, second_push.explain()
    assert report(run)["totalPoints"] == 100
    # the environment came from the cache, so the install step did not run
    assert cache_key(run, "Cache restored from key") == cache_key(first_push.run, "Cache saved with key")
    assert "Main Install the dependencies" not in run.steps()
    # still one comment, edited in place, its history showing both pushes
    [comment] = second_push.comments
    assert comment["id"] == first_push.comments[0]["id"]
    assert [r.method for r in second_push.api if r.method in ("POST", "PATCH")] == ["PATCH"]
    assert history(comment["body"]) == {first_push.run.sha[:7]: 0, run.sha[:7]: 100}


def test_without_the_bundle_it_grades_with_the_templates_checks(forged_push_without_bundle):
    run = forged_push_without_bundle.run
    assert run.succeeded, forged_push_without_bundle.explain()
    warnings = run.commands("warning", "Visible checks only")
    assert len(warnings) == 1 and "GRADER_REPO" in warnings[0], run.commands("warning")
    assert 0 <= report(run)["totalPoints"] <= 100
    # nothing was fetched: the template's own grader graded, in the workspace
    assert forged_push_without_bundle.git == []
    assert f"GET /repos/{GRADER_REPO}" not in [r.line for r in forged_push_without_bundle.api]
    grade = re.search(r"workflow/grade\] user=\S* workdir=(\S+)", run.log)
    assert grade and grade.group(1).endswith("/student"), grade and grade.group(0)
    [comment] = forged_push_without_bundle.comments
    assert "visible checks only" in comment["body"].lower()


def test_forged_notices_never_reach_the_runner(forged_push_without_bundle):
    run = forged_push_without_bundle.run
    assert run.succeeded, forged_push_without_bundle.explain()
    # exactly one report, the grader's: step 02 now fails, so not the forged 100
    assert report(run)["totalPoints"] < 100
    # the forged commands were not acted on (the grader's own annotation quotes them, escaped)
    forged = {"the grader is broken", "after a carriage return", "indented"}
    assert forged.isdisjoint(run.commands("error") + run.commands("warning"))
    assert run.commands("add-mask") == [] and run.commands("hostile") == []
    assert all(re.fullmatch(r"[0-9a-f]{32}", token) for token in run.commands("stop-commands")), run.commands("stop-commands")
    assert "Score" in run.log and "Points" in run.log  # nothing was masked
