"""The lock on a worker and the audit of what its code reaches (issue #12).

Hostile submissions of the corpus (``tests/suite/hostile/``), each graded
with a few honest steps, prove that

* the answer key is out of reach: a step that hunts for the reference or the
  solutions on disk, through every path it can name, scores exactly what its
  own wrong code earns, and is flagged (``grader-read``);
* delegation to transformers is flagged however the import is written
  (``runtime-import``), while its points stay as they are;
* silencing the audit is itself flagged (``audit-tamper``);
* no signal from a worker reaches the judge or any other process, with
  Landlock's signal scoping off (the seccomp filter alone): no check but the
  hostile step's own loses points, the integration checks of 09-11 included;
* a judge death, if one still happens, costs only the check that was running.

Fast checks of the parts (the seccomp program, the Landlock read lock, the
read roots, the notes on the reply pipe) come first. Limits are those of
``test_adversarial``.

    pytest tests/suite/test_confinement.py -q
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grading.config import GRADER_ROOT, STEPS_BY_ID
from grading.engine import audit, confinement, protocol, seccomp
from grading.engine import judge as runner
from tests.suite.test_adversarial import LIMITS, SOLUTIONS, _available, _no_process_left, _scores
from tests.suite.test_adversarial import Case as Hostile
from tests.suite.test_adversarial import make_submission

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="seccomp and Landlock are Linux's")


def _reads_confinable() -> bool:
    """Whether this machine's workers have their reads confined (Landlock)."""
    return confinement.landlock_abi() >= 1 and os.environ.get("GRADING_LANDLOCK", "1") != "0"


def _in_child(body) -> int:
    """Run ``body()`` in a forked child; its return value is the exit code."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = body()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


# -- the parts -------------------------------------------------------------------


@linux_only
@pytest.mark.skipif(not seccomp.supported(), reason="no seccomp program for this machine")
def test_seccomp_keeps_signals_in_the_group():
    victim = os.fork()
    if victim == 0:
        time.sleep(30)
        os._exit(0)

    def body():
        os.setpgid(0, 0)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        assert seccomp.install(libc) == "seccomp"
        refused = []
        for send, target in ((os.kill, victim), (os.kill, os.getppid()), (os.killpg, os.getpgid(victim)), (os.kill, -1)):
            try:
                send(target, signal.SIGCONT)  # harmless if it got through
            except PermissionError:
                refused.append(target)
        got = []
        signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
        os.kill(os.getpid(), signal.SIGUSR1)
        os.killpg(0, signal.SIGUSR1)
        signal.raise_signal(signal.SIGUSR1)
        os.kill(victim, 0)  # a probe delivers nothing: allowed
        return 0 if len(refused) == 4 and len(got) == 3 else 1

    try:
        assert _in_child(body) == 0
        assert os.waitpid(victim, os.WNOHANG) == (0, 0), "the victim was killed"
    finally:
        os.kill(victim, signal.SIGKILL)
        os.waitpid(victim, 0)


@linux_only
def test_landlock_refuses_the_grader_files_not_the_python_installation(tmp_path):
    if not _reads_confinable():
        pytest.skip(f"reads cannot be confined here: {confinement.summary([]).get('reason')}")
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "step_01.py").write_text("x = 1\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def body():
        found = confinement.lock_down(scratch, submission)
        assert "landlock-reads" in found, found
        for secret in (GRADER_ROOT / "grading" / "reference" / "step_07.py", GRADER_ROOT / "tests" / "hidden" / "test_step_07.py"):
            try:
                secret.read_bytes()
                return 2
            except PermissionError:
                pass
        (submission / "step_01.py").read_text()
        (scratch / "mine.txt").write_text("ok")
        Path(os.__file__).read_text()  # the standard library
        fresh = next(name for name in ("wave", "colorsys", "mailbox", "xdrlib") if name not in sys.modules)
        __import__(fresh)  # imported now, after the lock
        return 0

    assert _in_child(body) == 0


def test_read_roots_never_hold_the_grader(tmp_path, monkeypatch):
    """The grader's folder is unreadable even when the Python installation
    (or site-packages) lives inside it: only that subtree stays readable."""
    repo = tmp_path / "repo"
    site = repo / ".venv" / "lib" / "python3.11" / "site-packages"
    for folder in (site / "torch", repo / "grading" / "reference", repo / "tests" / "hidden", repo / "assignments", repo / "solutions"):
        folder.mkdir(parents=True)
    monkeypatch.setattr("grading.config.GRADER_ROOT", repo)
    for prefix in (repo / ".venv", repo):  # a venv inside the repository, and one made in the repository's folder
        monkeypatch.setattr(sys, "prefix", str(prefix))
        monkeypatch.setattr(sys, "exec_prefix", str(prefix))
        monkeypatch.setattr(sys, "base_prefix", str(prefix))
        monkeypatch.setattr(sys, "base_exec_prefix", str(prefix))
        monkeypatch.setattr(sys, "path", [str(repo), str(site)])
        roots = confinement._roots_of(str(repo / "assignments"))
        readable = lambda path: any(str(path) == r or str(path).startswith(r + os.sep) for r in roots)  # noqa: E731
        assert readable(site / "torch") and readable(repo / "assignments" / "step_01.py")
        for secret in (repo / "grading" / "reference" / "step_07.py", repo / "tests" / "hidden", repo / "solutions" / "step_07.py", repo):
            assert not readable(secret), (prefix, secret, roots)


def test_read_roots_are_the_same_once_the_submission_is_on_sys_path(tmp_path, monkeypatch):
    """A worker puts its submission first on ``sys.path`` after the judge
    worked the roots out (``confinement.warm``): they stay what they were,
    so the worker reuses them."""
    submission = tmp_path / "repo" / "assignments"
    submission.mkdir(parents=True)
    worked_out = []
    roots_of = confinement._roots_of
    monkeypatch.setattr(confinement, "_roots_of", lambda folder: worked_out.append(folder) or roots_of(folder))
    monkeypatch.setattr(confinement, "_ROOTS", {})
    before = confinement.read_roots(submission, tmp_path)
    monkeypatch.setattr(sys, "path", [str(submission), *sys.path])
    assert confinement.read_roots(submission, tmp_path) == before
    assert len(worked_out) == 1
    assert sorted(roots_of(worked_out[0])) == sorted(set(before) - {os.path.realpath(tmp_path)})  # afresh: the same


def test_notes_ride_the_reply_pipe_and_heartbeats_are_checked():
    read_fd, write_fd = os.pipe()
    listener = audit.Listener(STEPS_BY_ID["07"])
    try:
        def note(message):
            payload = json.dumps(message).encode()
            os.write(write_fd, protocol.HEADER.pack(protocol.NOTE | len(payload)) + payload)

        note({"hello": 1})
        note({"flag": {"kind": "grader-read", "file": "step_07.py", "line": 3, "detail": "tried to read x"}})
        note({"flag": {"kind": "made-up", "file": "step_07.py", "line": 3, "detail": "refused: unknown kind"}})
        note({"beat": 1})
        protocol.send_reply(write_fd, b"reply one")
        assert protocol.read_message(read_fd, None, notes=listener.take) == b"reply one"
        listener.replied()
        protocol.send_reply(write_fd, b"reply two")  # no heartbeat before it: the audit was silenced
        assert protocol.read_message(read_fd, None, notes=listener.take) == b"reply two"
        listener.replied()
    finally:
        os.close(read_fd)
        os.close(write_fd)
    kinds = [f["kind"] for f in listener.flags]
    assert kinds == ["grader-read", "audit-tamper"], listener.flags
    assert [f["kind"] for f in listener.take_new()] == kinds
    assert listener.take_new() == []


# -- hostile submissions ---------------------------------------------------------------


@dataclass(frozen=True)
class Lock:
    name: str  # the file in hostile/
    step: str  # the step whose file it extends
    others: tuple[str, ...]  # honest steps graded with it
    score: str  # "wrong": exactly the plain wrong answer's score; "honest": exactly the solution's
    flags: tuple[tuple[str, str], ...] = ()  # (kind, regex on detail) that must be among the runtime flags
    env: dict = field(default_factory=dict)
    wrong: str = "wrong_attention"  # the plain wrong answer it is compared with


CASES = [
    Lock("read_answers", "07", ("06",), "wrong", (
        ("grader-read", r"^tried to read the grader's file grading/reference/step_07\.py$"),
        ("grader-read", r"^tried to read the grader's file solutions/step_07\.py$"),
        ("runtime-import", r"^used the grader's own package \(grading"),
        ("runtime-import", r"^tried to import the reference solutions"),
    )),
    Lock("delegate_transformers", "07", (), "honest", (
        ("runtime-import", r"^used transformers \(transformers\.models\.gpt2\.modeling_gpt2\) at run time$"),
    )),
    Lock("silence_audit", "05", ("06",), "honest", (
        ("audit-tamper", r"live objects \(gc\.get_objects\)"),
        ("audit-tamper", r"stopped reporting"),
    )),
    Lock("signal_everything", "05", ("09", "10", "11"), "honest", env={"GRADING_LANDLOCK_SIGNALS": "0"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def baselines(tmp_path_factory, warm_grader) -> dict:
    """The solutions' score for every step the cases grade, and each plain
    wrong answer's score for its step."""
    steps = sorted({s for c in CASES for s in (c.step, *c.others) if _available([s])})
    found = {"honest": _scores(warm_grader(SOLUTIONS, steps, limits=LIMITS))}
    for case in CASES:
        if case.score == "wrong" and case.wrong not in found:
            folder = make_submission(tmp_path_factory.mktemp(case.wrong) / "sub", Hostile(case.wrong, case.step, ()))
            found[case.wrong] = _scores(warm_grader(folder, [case.step], limits=LIMITS))[case.step]
    return found


def _runtime_flags(results: dict) -> list[dict]:
    return [f for f in results["integrity"] if f["kind"] in audit.KINDS]


def _signals_blocked_here() -> bool:
    """The filter refuses a harmless signal to a bystander: only then may
    the case that signals everything run at all."""
    if not seccomp.supported():
        return False
    victim = os.fork()
    if victim == 0:
        time.sleep(30)
        os._exit(0)

    def body():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)
        if seccomp.install(libc) != "seccomp":
            return 1
        try:
            os.kill(victim, signal.SIGCONT)
        except PermissionError:
            return 0
        return 1

    try:
        return _in_child(body) == 0
    finally:
        os.kill(victim, signal.SIGKILL)
        os.waitpid(victim, 0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_locked_worker(case: Lock, baselines, warm_grader, tmp_path, monkeypatch):
    if not _available((case.step, *case.others)):
        pytest.skip("the steps this case needs have no tests or solution yet")
    if case.name == "signal_everything" and not _signals_blocked_here():
        pytest.skip("the seccomp filter is not in force here: signalling everything would reach real processes")
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    folder = make_submission(tmp_path / "submission", Hostile(case.name, case.step, ()))
    results = warm_grader(folder, [case.step, *case.others], limits=LIMITS)
    scores = _scores(results)
    for step in case.others:
        assert scores.get(step) == baselines["honest"][step], f"step {step} lost its honest score: {scores.get(step)}"
    expected = baselines[case.wrong] if case.score == "wrong" else baselines["honest"][case.step]
    assert scores.get(case.step) == expected, f"step {case.step} scored {scores.get(case.step)}, expected {expected} ({case.score})"
    if case.name == "signal_everything":  # no check was stopped, the integration checks of 09-11 included
        assert not [t["name"] for t in results["tests"] if t["status"] != "passed" and t["extra_data"]["step"] != case.step]
    flags = _runtime_flags(results)
    for kind, pattern in case.flags:
        assert any(f["kind"] == kind and re.search(pattern, f["detail"]) for f in flags), (kind, pattern, flags)
    assert all(f["file"] == f"step_{case.step}.py" for f in flags), flags
    if case.score == "honest" and case.name != "silence_audit":
        assert not [f for f in flags if f["kind"] == "audit-tamper"], flags
    facts = results["confinement"]
    if _reads_confinable():
        assert facts["reads"] == "landlock" and "seccomp" in facts["signals"], facts
    _no_process_left(tmp_path)


def test_solutions_raise_no_runtime_flag(baselines, warm_grader):
    """The references, the probes and transformers' code inside them are the
    grader's doing, never the student's: the solutions are not flagged."""
    steps = sorted({s for c in CASES for s in (c.step, *c.others) if _available([s])})
    results = warm_grader(SOLUTIONS, steps, limits=LIMITS)
    assert _runtime_flags(results) == []
    assert results["confinement"]["reads"] in ("landlock", "none")


@linux_only
def test_unconfined_reads_are_still_flagged_and_said(warm_grader, tmp_path, monkeypatch):
    """Without Landlock the answer key can be read (the grade is not to be
    trusted, and the run says so), but the attempt is flagged all the same."""
    monkeypatch.setenv("GRADING_LANDLOCK", "0")
    folder = make_submission(tmp_path / "submission", Hostile("read_answers", "07", ()))
    results = warm_grader(folder, ["07"], limits=LIMITS)
    assert results["confinement"]["reads"] == "none" and "GRADING_LANDLOCK=0" in results["confinement"]["reason"]
    assert "could not be kept from reading the grader's files" in results["output"]
    assert any(f["kind"] == "grader-read" and "grading/reference/step_07.py" in f["detail"] for f in results["integrity"])


@linux_only
def test_a_judge_death_costs_only_the_running_check(warm_grader, tmp_path, monkeypatch):
    """With nothing to stop the kill (no Landlock, no seccomp), a step that
    kills the judge once loses the one check that was running."""
    if not _available(("05", "06")):
        pytest.skip("steps 05 and 06 have no tests or solution yet")
    monkeypatch.setenv("GRADING_LANDLOCK", "0")
    monkeypatch.setenv("GRADING_SECCOMP", "0")
    monkeypatch.setattr(runner, "grader_files_state", lambda: {})  # others editing the tree must not refuse the relaunch
    folder = make_submission(tmp_path / "submission", Hostile("kill_judge_once", "05", ()))
    results = warm_grader(folder, ["05", "06"], limits=LIMITS)
    failed = [t for t in results["tests"] if t["status"] != "passed"]
    assert len(failed) == 1, [t["name"] for t in failed]
    assert failed[0]["extra_data"]["kind"] == "stopped" and failed[0]["extra_data"]["step"] == "05"
    assert "grader's own process was stopped while step 05" in failed[0]["extra_data"]["message"]
    _no_process_left(tmp_path)
