"""The adversarial corpus: hostile submissions the grader must survive.

Each case is ``solutions/`` copied with one step file replaced by the
solution plus a hostile snippet from ``tests/suite/hostile/`` (and, for some,
planted files or environment). Each case proves three things:

* no unearned points: the hostile step scores at most its honest score (less
  when the attack breaks it, and exactly a plain wrong answer's score when the
  attack tries to fake a pass);
* isolation: every other graded step keeps exactly its honest score, the one
  ``solutions/`` gets;
* the grader finishes with results (and, through the CLI, the two Classroom
  notices exactly once, with nothing the submission printed able to act as a
  workflow command), and leaves no process behind.

Limits are small (3 s per call, 6 s per step: ``QUICK_LIMITS``) so every case is bounded; most cases grade
the hostile step plus one or two others, a few run the whole CLI.

    pytest tests/suite/test_adversarial.py -q
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grading.engine import judge as runner
from grading.engine import reaping
from grading.config import GRADER_ROOT

from .conftest import QUICK_LIMITS

HOSTILE = Path(__file__).resolve().parent / "hostile"
SOLUTIONS = GRADER_ROOT / "solutions"
LIMITS = QUICK_LIMITS
CLI_LIMITS = [f"--{name.replace('_', '-')}={getattr(LIMITS, name):g}" for name in ("call_timeout", "step_timeout", "test_timeout")]

_PLANTED = {
    "conftest.py": "import os\n\ndef pytest_configure(config):\n    os._exit(0)\n\n"
    "def pytest_collection_modifyitems(items):\n    items.clear()\n",
    "pytest.ini": "[pytest]\naddopts = -p no:grading.plugin --collect-only -x\npython_files = nothing_*.py\n",
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--collect-only"\n',
    "setup.cfg": "[tool:pytest]\naddopts = --collect-only\n",
    "tox.ini": "[pytest]\naddopts = --collect-only\n",
    "sitecustomize.py": "import os\nos._exit(0)\n",
    "usercustomize.py": "import os\nos._exit(0)\n",
    "zz_hostile.pth": "import os; os._exit(0)\n",
}
_PLANTED_ENV = {
    "PYTEST_ADDOPTS": "--collect-only -p no:grading.plugin",
    "PYTEST_PLUGINS": "conftest",
    "PYTHONPATH": "{submission}",
    "PYTHONSTARTUP": "{submission}/sitecustomize.py",
}


@dataclass(frozen=True)
class Case:
    name: str  # the file in hostile/ and the test id
    step: str  # the step whose file it replaces
    others: tuple[str, ...]  # honest steps graded with it
    says: str = ""  # a failing check of the hostile step says this (regex)
    breaks: bool = True  # the attack must cost the step points
    like_wrong: bool = False  # must score no more than a plain wrong answer
    exact: bool = False  # ... and exactly as much (the tricks changed nothing)
    planted: bool = False  # plant configuration files and environment
    env: dict = field(default_factory=dict)
    cli: bool = False  # run the whole `python -m grading run` in a subprocess


CASES = [
    Case("segfault_ctypes", "05", ("01", "06"), r"crashed \(segmentation fault\) while step 05"),
    Case("exit_at_import", "02", ("01", "05"), r"the process exited \(code 0\) while step 02"),
    Case("exit_in_forward", "05", ("02", "06"), r"the process exited \(code 3\) while step 05"),
    Case("sys_exit", "06", ("05",), r"called sys\.exit\(bye\)"),
    Case("systemexit_fixture", "05", ("01", "06"), r"called sys\.exit\(0\)"),
    Case("infinite_loop", "05", ("06",), r"timed out after 3 s in GPT2Embeddings\.forward \(step_05\.py, line \d+\)"),
    Case("thread_deadlock", "05", ("06",), breaks=False),
    Case("alloc_40gb", "05", ("01", "06"), r"(?i)memory|alloc"),
    Case("orphan_double_fork", "05", ("06",), breaks=False),
    Case("endless_print", "06", ("05",), r"printed more than 1000 kB of output"),
    Case("workflow_commands", "02", (), r"ValueError", cli=True),
    Case("patch_judge", "05", ("06",), like_wrong=True, exact=True),
    Case("fake_report", "05", ("06",), like_wrong=True),
    Case("wrong_embeddings", "05", ("06",), like_wrong=True, exact=True, planted=True),
    Case("wrong_embeddings", "05", (), like_wrong=True, exact=True, planted=True, cli=True),
    Case("kill_judge", "05", ("01", "06"), r"(?i)permission|not permitted"),
    Case("kill_judge", "05", ("01", "06"), r"(?i)permission|not permitted", env={"GRADING_LANDLOCK_SIGNALS": "0"}),  # seccomp alone
    Case("kill_judge", "05", ("01", "06"), r"grader's own process was stopped while step 05",
         env={"GRADING_LANDLOCK": "0", "GRADING_SECCOMP": "0"}),  # nothing stops the kill: the judge is relaunched
    Case("tamper_disk", "02", ("05",), breaks=False),
]


def _id(case: Case) -> str:
    extras = ["planted"] * case.planted + [f"{k}={v}" for k, v in case.env.items()] + ["cli"] * case.cli
    return "-".join([case.name, *extras])


def make_submission(folder: Path, case: Case) -> Path:
    folder.mkdir(parents=True)
    for source in SOLUTIONS.glob("step_*.py"):
        shutil.copy(source, folder / source.name)
    target = folder / f"step_{case.step}.py"
    target.write_text(target.read_text() + "\n\n" + (HOSTILE / f"{case.name}.py").read_text())
    if case.planted:
        for name, text in _PLANTED.items():
            (folder / name).write_text(text)
    return folder


def _available(step_ids) -> bool:
    return all((GRADER_ROOT / "tests" / "visible" / f"test_step_{s}.py").exists() for s in step_ids) and all(
        (SOLUTIONS / f"step_{s}.py").exists() for s in step_ids
    )


def _scores(results: dict) -> dict[str, float]:
    return {s["id"]: s["score"] for s in results["steps"] if s["checks"]}


@pytest.fixture(scope="session")
def honest(warm_grader) -> dict[str, float]:
    """Each step's score for the solutions, graded as the corpus grades."""
    steps = sorted({s for c in CASES for s in (c.step, *c.others) if _available([s])})
    return _scores(warm_grader(SOLUTIONS, steps, limits=LIMITS))


@pytest.fixture(scope="session")
def honest_all(warm_grader) -> dict[str, float]:
    return _scores(warm_grader(SOLUTIONS, None, limits=LIMITS))


@pytest.fixture(scope="session")
def wrong(tmp_path_factory, warm_grader) -> float:
    """Step 05's score for a plain wrong answer (zeros), no tricks."""
    folder = make_submission(tmp_path_factory.mktemp("wrong") / "sub", Case("wrong_embeddings", "05", ()))
    return _scores(warm_grader(folder, ["05"], limits=LIMITS))["05"]


def _no_process_left(submissions: Path):
    """No process is left of a grading of submissions under ``submissions``:
    the orphan a hostile step starts runs in its submission folder, so the
    suite's other processes (running in parallel) are told apart from it."""
    left = [pid for pid in reaping.children_of(os.getpid()) if pid not in reaping.LIVE]  # LIVE: the warm judge process
    assert left == [], "a process was left running after grading"
    for entry in Path("/proc").iterdir():
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name == "grading-orphan":
            try:
                ours = Path(os.readlink(entry / "cwd")).is_relative_to(Path(submissions).resolve())
            except OSError:
                ours = (entry / "comm").exists()  # its folder cannot be read: count it unless it just ended
            assert not ours, f"the hostile orphan (pid {entry.name}) outlived the grading run"


def _run_cli(folder: Path, env_extra: dict, tmp: Path) -> tuple[dict, str, str]:
    out = tmp / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GRADING_"))} | env_extra
    process = subprocess.run(
        [sys.executable, "-m", "grading", "run", "--submission", str(folder), "--json", str(out), *CLI_LIMITS],
        cwd=GRADER_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(out.read_text()), process.stdout, process.stderr


def assert_only_grader_commands(stdout: str, stderr: str, results: dict):
    """Outside the grader's ::stop-commands:: block, the only workflow
    commands are the two Classroom notices, each exactly once; inside it,
    nothing can end the block or look like a command."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("::stop-commands::")]
    assert len(starts) == 1, stdout[:2000]
    token = lines[starts[0]].split("::")[2]
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    end = lines.index(f"::{token}::")
    inside, outside = lines[starts[0] + 1 : end], lines[: starts[0]] + lines[end + 1 :]
    total, maximum = math.floor(results["score"] + 0.5), math.floor(results["max_score"] + 0.5)  # whole points
    assert results["classroom"] == {"points": total, "max_points": maximum}
    assert outside == [
        f"::notice title=Autograding complete::Points {total}/{maximum}",
        f'::notice title=Autograding report::{{"totalPoints":{total},"maxPoints":{maximum}}}',
    ]
    for line in inside:
        assert not line.lstrip().startswith("::") and "##[" not in line, line
    for line in stderr.splitlines():
        assert not line.lstrip().startswith("::") and "##[" not in line, line


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_hostile_submission(case: Case, honest, warm_grader, request, tmp_path, monkeypatch):
    if not _available((case.step, *case.others)):
        pytest.skip("the steps this case needs have no tests or solution yet")
    folder = make_submission(tmp_path / "submission", case)
    env = dict(case.env)
    if case.planted:
        env |= {k: v.format(submission=folder) for k, v in _PLANTED_ENV.items()}
        if case.cli:  # the CLI's own interpreter honours its environment (the workflow sets it); the judge does not
            env = {k: v for k, v in env.items() if not k.startswith("PYTHON")}
    site_files = _site_markers()

    if case.cli:
        results, stdout, stderr = _run_cli(folder, env, tmp_path)
        assert_only_grader_commands(stdout, stderr, results)
        baseline = request.getfixturevalue("honest_all")
        others = [s for s in baseline if s != case.step]
    else:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        if env.get("GRADING_LANDLOCK") == "0":
            # The relaunch is refused if the grader's files change meanwhile
            # (test_relaunch_refused_when_grader_files_change); people editing
            # the tree while this runs must not make it flaky.
            monkeypatch.setattr(runner, "grader_files_state", lambda: {})
        results = warm_grader(folder, [case.step, *case.others], limits=LIMITS)
        baseline = honest
        others = list(case.others)

    scores = _scores(results)
    assert results["tests"], "the grader returned no checks"
    for step in others:
        assert scores.get(step) == baseline[step], f"step {step} lost its honest score: {scores.get(step)} != {baseline[step]}"
    mine = scores.get(case.step, 0.0)
    assert mine <= baseline[case.step], "the hostile step earned more than the solution"
    if case.like_wrong:
        wrong = request.getfixturevalue("wrong")
        assert mine <= wrong, f"step {case.step} scored {mine}, but the same wrong answer without tricks scores {wrong}"
        if case.exact:
            assert mine == wrong, f"step {case.step} scored {mine}, the same wrong answer without tricks {wrong}"
    elif case.breaks:
        assert mine < baseline[case.step], "the attack cost its step nothing"
    if case.says:
        messages = [t["extra_data"]["message"] for t in results["tests"] if t["extra_data"]["step"] == case.step and t["status"] == "failed"]
        assert any(re.search(case.says, m) for m in messages), messages[:5]
    _no_process_left(tmp_path)
    new_markers = _site_markers() - site_files
    for path in new_markers:
        path.unlink()
    assert not new_markers, f"the submission wrote outside its sandbox: {sorted(map(str, new_markers))}"
    for name in ("results.json", "report.json", ".report.json"):
        assert not (folder / name).exists() or case.name != "fake_report", f"the submission wrote {name}"


def _site_markers() -> set[Path]:
    folders = {Path(sysconfig.get_paths()["purelib"]), GRADER_ROOT, GRADER_ROOT / "grading", SOLUTIONS}
    return {p for folder in folders for p in folder.glob("grading_hostile_marker*")}


def test_relaunch_refused_when_grader_files_change(monkeypatch):
    """If the judge dies and the grader's own files changed meanwhile, no new
    judge is started (it would load them); the unfinished checks fail."""
    states = iter([{"a": (1, 1, 1)}, {"a": (1, 2, 1)}])
    monkeypatch.setattr(runner, "grader_files_state", lambda: next(states))
    dead = runner.JudgeRun(collected=[{"nodeid": "tests/visible/test_step_05.py::test_a", "step": "05"}, {"nodeid": "tests/visible/test_step_06.py::test_b", "step": "06"}],
                           started=["tests/visible/test_step_05.py::test_a"])  # fmt: skip
    calls = []
    monkeypatch.setattr(runner, "run_judge", lambda *a, **k: calls.append(a) or dead)
    outcome = runner.judge(SOLUTIONS, steps=["05", "06"], limits=LIMITS)
    assert len(calls) == 1
    assert outcome.tests == []
    assert "grader's own files were changed" in outcome.stopped_steps["06"]


def test_a_worker_started_again_answers_each_call_in_turn(warm_grader, tmp_path):
    """After a crash the step's worker is started again, and its first words
    (what confined it) are never taken for a call's reply: only the check
    whose call crashed loses its points, and no audit flag is raised."""
    folder = make_submission(tmp_path / "submission", Case("crash_once", "05", ()))
    results = warm_grader(folder, ["05"], limits=LIMITS)
    failed = [t for t in results["tests"] if t["status"] != "passed"]
    assert failed, "the crash cost nothing: did the first forward run?"
    assert len(failed) < len(results["tests"]) / 2, [t["name"] for t in failed]
    for test in failed:
        assert re.search(r"the process exited \(code 3\) while step 05", test["extra_data"]["message"]), test["extra_data"]["message"]
    assert [f for f in results["integrity"] if f["kind"] == "audit-tamper"] == []
    _no_process_left(tmp_path)
