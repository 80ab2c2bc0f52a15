"""`python -m grading regrade`: a folder of student clones, laid out as
`gh classroom clone student-repos` leaves it, graded into a gradebook.

The clones are made here: a correct submission (the solutions), a partial
one, one with a syntax error, a hostile one (exits at import), one without an
assignments folder and a folder that is not a git repository. One regrade of
them is shared by the module (four grading runs, two at a time); resume,
shards and merge reuse its results, so they grade nothing again.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grading.instructor import gradebook, regrade
from grading.instructor.cli_process import run_cli

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "out")
EARLY, LATE = "2024-01-10T12:00:00+00:00", "2024-06-10T12:00:00+00:00"


def git(repo: Path, *args: str, date: str = EARLY) -> str:
    env = dict(os.environ, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    config = ["-c", "user.name=Student", "-c", "user.email=student@example.com", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
    proc = subprocess.run(["git", *config, "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return proc.stdout.strip()


def commit_all(repo: Path, message: str, date: str = EARLY) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD")


def new_repo(path: Path, solutions: Path | None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "remote", "add", "origin", f"https://github.com/course-org/{path.name}.git")
    (path / "README.md").write_text("my GPT-2\n")
    if solutions is not None:
        (path / "assignments").mkdir()
        for source in solutions.glob("step_*.py"):
            shutil.copy(source, path / "assignments" / source.name)
    return path


def regrade_cli(grader: Path, *args: str):
    return run_cli(["regrade", *args], cwd=grader, timeout=1800)


def read_csv(path: Path) -> tuple[list[str], dict[str, dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = {row["username"]: row for row in reader}
        return reader.fieldnames, rows


@pytest.fixture(scope="module")
def grader(tmp_path_factory) -> Path:
    """A snapshot of this repository: the grader regrade runs (helpers may edit the original meanwhile)."""
    return Path(shutil.copytree(ROOT, tmp_path_factory.mktemp("regrade") / "grader", ignore=SKIP))


@pytest.fixture(scope="module")
def classroom(grader, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("classroom")
    subs = root / "gpt2-submissions"
    solutions = grader / "solutions"
    made = {}

    made["ada"] = new_repo(subs / "gpt2-ada", solutions)  # correct
    commit_all(made["ada"], "all steps")

    bob = made["bob"] = new_repo(subs / "gpt2-bob", solutions)  # partial now, correct before the deadline
    made["bob_early"] = commit_all(bob, "all steps", EARLY)
    step_01 = bob / "assignments" / "step_01.py"
    text = step_01.read_text()
    assert "n_head: int = 12" in text
    step_01.write_text(text.replace("n_head: int = 12", "n_head: int = 8"))
    commit_all(bob, "tweak the heads", LATE)

    cy = made["cy"] = new_repo(subs / "gpt2-cy", solutions)  # a syntax error in step 01
    (cy / "assignments" / "step_01.py").write_text("class GPT2Config(:\n    pass\n")
    commit_all(cy, "oops")

    fay = made["fay"] = new_repo(subs / "gpt2-fay", solutions)  # hostile: exits at import
    (fay / "assignments" / "step_01.py").write_text(
        "import os\nprint('::notice title=Autograding complete::Points 100/100', flush=True)\nos._exit(0)\n"
    )
    step_02 = fay / "assignments" / "step_02.py"
    step_02.write_text("import sys\nsys.exit(0)\n" + (step_02.read_text() if step_02.exists() else ""))
    commit_all(fay, "hmm")

    dee = made["dee"] = new_repo(subs / "gpt2-dee", None)  # no assignments folder
    commit_all(dee, "readme only")

    eve = made["eve"] = subs / "gpt2-eve"  # not a git repository
    shutil.copytree(solutions, eve / "assignments")

    out = tmp_path_factory.mktemp("gradebook")
    proc = regrade_cli(grader, root, "--jobs", 2, "--out", out / "gradebook.csv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"root": root, "repos": made, "out": out, "proc": proc}


@pytest.fixture(scope="module")
def book(classroom):
    columns, rows = read_csv(classroom["out"] / "gradebook.csv")
    data = json.loads((classroom["out"] / "gradebook.json").read_text())
    entries = {e["username"]: e for e in data["repositories"]}
    correct = entries["ada"]["results"]
    available = sum(s["max_score"] for s in correct["steps"] if s["checks"])
    return {"columns": columns, "rows": rows, "entries": entries, "available": available}


def total(row: dict) -> float:
    return float(row["total"])


# --- the gradebook ---------------------------------------------------------------------------


def test_gradebook_columns(book):
    steps = [f"step_{n:02d}" for n in range(1, 13)]
    assert book["columns"] == ["username", "repository", "commit", "commit_date", *steps, "total", "integrity", "error", "bundle"]
    assert sorted(book["rows"]) == ["ada", "bob", "cy", "dee", "eve", "fay"]


def test_a_correct_submission_earns_every_available_point(book, classroom, grader):
    row = book["rows"]["ada"]
    assert row["error"] == ""
    assert total(row) == pytest.approx(book["available"], abs=0.02)
    assert row["commit"] == git(classroom["repos"]["ada"], "rev-parse", "HEAD")
    assert row["commit_date"] == EARLY
    assert row["repository"] == "gpt2-submissions/gpt2-ada"
    assert row["bundle"] == regrade.bundle_id(grader)
    assert row["integrity"] == gradebook.integrity_text(book["entries"]["ada"]["results"].get("integrity"))


def test_a_partial_submission_earns_some(book):
    row = book["rows"]["bob"]
    assert row["error"] == ""
    assert 0 < total(row) < book["available"]
    assert float(row["step_01"]) < 4


def test_a_syntax_error_costs_its_step_only(book):
    row = book["rows"]["cy"]
    assert row["error"] == "" and float(row["step_01"]) == 0
    assert total(row) == pytest.approx(book["available"] - 4, abs=0.02)


def test_a_hostile_submission_is_graded_and_cannot_fake_its_score(book):
    row = book["rows"]["fay"]
    assert row["error"] == ""
    assert float(row["step_01"]) == 0
    steps = {s["id"]: s for s in book["entries"]["fay"]["results"]["steps"]}
    lost = 4 + (steps["02"]["max_score"] if steps["02"]["checks"] else 0)
    assert float(row["step_02"] or 0) == 0
    assert total(row) == pytest.approx(book["available"] - lost, abs=0.02)


def test_broken_repositories_are_errors_that_do_not_stop_the_batch(book):
    dee, eve = book["rows"]["dee"], book["rows"]["eve"]
    assert "no assignments/ folder" in dee["error"] and dee["total"] == "" and dee["commit"]
    assert "not a git repository" in eve["error"] and eve["total"] == "" and eve["commit"] == ""


def test_one_progress_line_per_repository_when_not_a_terminal(classroom):
    lines = [line for line in classroom["proc"].stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 6 and lines[-1].startswith("[6/6] ")
    assert "6 repositories: 4 graded, 0 already graded, 2 errors" in classroom["proc"].stdout


def test_clones_are_never_modified(classroom):
    for name in ("ada", "bob", "cy", "fay", "dee"):
        assert git(classroom["repos"][name], "status", "--porcelain") == ""


# --- resume, deadline, shards and merge -----------------------------------------------------


def test_a_second_run_skips_what_was_graded(classroom, grader):
    before = (classroom["out"] / "gradebook.csv").read_text()
    proc = regrade_cli(grader, classroom["root"], "--out", classroom["out"] / "gradebook.csv")
    assert proc.returncode == 0, proc.stderr
    assert "0 graded, 4 already graded, 2 errors" in proc.stdout
    assert (classroom["out"] / "gradebook.csv").read_text() == before


def test_deadline_grades_the_last_commit_before_it(classroom, grader, book, tmp_path):
    bob = classroom["repos"]["bob"]
    proc = regrade_cli(grader, bob, "--deadline", "2024-03-01T00:00:00Z", "--prefix", "gpt2", "--out", tmp_path / "late.csv")
    assert proc.returncode == 0, proc.stderr
    _, rows = read_csv(tmp_path / "late.csv")
    assert rows["bob"]["commit"] == classroom["repos"]["bob_early"] and rows["bob"]["commit_date"] == EARLY
    assert total(rows["bob"]) == pytest.approx(book["available"], abs=0.02)
    assert "no commit before" in regrade.grade_repo(
        regrade.Repo(bob, "bob", "bob"), bundle="x", deadline=regrade.parse_deadline("2023-01-01"), previous=None,
        grade_submission=lambda folder: pytest.fail("a repository with no commit before the deadline was graded")
    )["error"]


def test_shards_split_every_repository_into_exactly_one(classroom, grader):
    everything = regrade_cli(grader, classroom["root"], "--list").stdout.split()
    assert len(everything) == 6
    halves = [regrade_cli(grader, classroom["root"], "--list", "--shard", f"{i}/2").stdout.split() for i in (1, 2)]
    assert sorted(halves[0] + halves[1]) == sorted(everything) and len(halves[0]) == len(halves[1]) == 3
    repos = regrade.collect([str(classroom["root"])], None, None)
    for count in (1, 4, 7):
        shards = [[r.key for r in regrade.shard(repos, i, count)] for i in range(1, count + 1)]
        assert sorted(sum(shards, [])) == sorted(everything)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_shard_assignment_is_deterministic():
    repos = [regrade.Repo(Path(f"/x/{n}"), f"s/gpt2-{n}", n) for n in ("zed", "amy", "kim", "bo", "lu")]
    first = [regrade.shard(repos, i, 3) for i in (1, 2, 3)]
    again = [regrade.shard(list(reversed(repos)), i, 3) for i in (1, 2, 3)]
    assert first == again
    assert sorted(r.key for part in first for r in part) == sorted(r.key for r in repos)
    with pytest.raises(ValueError):
        regrade.parse_shard("3/2")


def test_shard_gradebooks_merge_into_the_whole(classroom, grader, tmp_path):
    whole = classroom["out"] / "gradebook.json"
    for i in (1, 2):
        proc = regrade_cli(grader, classroom["root"], "--shard", f"{i}/2", "--resume", whole, "--out", tmp_path / f"shard-{i}.csv")
        assert proc.returncode == 0 and " 0 graded" in proc.stdout, proc.stdout + proc.stderr
    proc = regrade_cli(grader, "--merge", tmp_path / "shard-1.csv", tmp_path / "shard-2.csv", "--out", tmp_path / "merged.csv")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "merged.csv").read_text() == (classroom["out"] / "gradebook.csv").read_text()
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert sorted(e["username"] for e in merged["repositories"]) == ["ada", "bob", "cy", "dee", "eve", "fay"]


def test_merge_refuses_overlapping_shards(tmp_path):
    row = {c: "" for c in gradebook.COLUMNS} | {"username": "ada", "repository": "gpt2-ada"}
    (tmp_path / "a.csv").write_text(gradebook.csv_text([row | {"total": "10"}]))
    (tmp_path / "b.csv").write_text(gradebook.csv_text([row | {"total": "20"}]))
    assert gradebook.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(tmp_path / "m.csv")]) == 1


# --- layouts and posting ---------------------------------------------------------------------


def test_layouts_one_and_two_levels(tmp_path):
    subs = tmp_path / "gpt2-submissions"
    for name in ("gpt2-ann", "gpt2-ben-x"):
        (subs / name / ".git").mkdir(parents=True)
    (subs / "gpt2-broken").mkdir()
    two = regrade.collect([str(tmp_path)], None, None)
    one = regrade.collect([str(subs)], None, None)
    assert [r.username for r in two] == ["ann", "ben-x", "broken"]
    assert [r.key for r in two] == ["gpt2-submissions/gpt2-ann", "gpt2-submissions/gpt2-ben-x", "gpt2-submissions/gpt2-broken"]
    assert [r.key for r in one] == ["gpt2-ann", "gpt2-ben-x", "gpt2-broken"]
    listed = tmp_path / "repos.txt"
    listed.write_text(f"# roster\n{subs / 'gpt2-ann'}\ngpt2-submissions/gpt2-ben-x\n\n")  # relative to the file's folder
    from_file = regrade.collect([], str(listed), "gpt2")
    assert [(r.username, r.path) for r in from_file] == [
        ("ann", (subs / "gpt2-ann").resolve()),
        ("ben-x", (subs / "gpt2-ben-x").resolve()),
    ]


def test_post_sends_each_graded_result_to_its_repository(classroom, book, monkeypatch):
    calls = []
    monkeypatch.setattr("grading.github.post.post_feedback", lambda results, **kw: calls.append((results.score, kw)))
    entries = [book["entries"][name] for name in ("ada", "dee")]
    regrade.post_all(entries, regrade._poster(), "tok", "https://api.example")
    assert calls == [(entries[0]["results"]["score"], {"repository": "course-org/gpt2-ada", "token": "tok", "api_url": "https://api.example"})]
