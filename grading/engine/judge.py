"""Run the judge: one pytest process over the grader's own tests.

Called by ``grading.cli.grade`` (the ``run`` and ``check`` commands). The judge runs with the
grader's own configuration (``judge.ini``, ``--noconftest``, plugin
autoloading off, an allow-listed environment), so nothing in a submission
folder or in the caller's environment can add options, plugins or fixtures.
Its results come back through a pipe that only the judge holds; files a
submission could write are never read.

If the judge process itself dies (a worker cannot signal it on Linux, but
elsewhere it can), the check that was running when it died fails, and the
judge is started again for the checks that had not run; a step that stops
the judge a second time loses its remaining checks. One hostile step costs
only its own points.

Besides the checks, each judge streams the integrity flags its workers'
audit reported (``grading.engine.audit``), merged here into
``Outcome.integrity``, and what confined each worker (``Outcome.confinement``:
the measures in force in every one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import files
from ..config import GRADER_ROOT, JUDGE_INI, STEPS, Limits, step_of
from . import reaping
from .zygote import Zygote

_ENV_KEPT = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP", "USER", "SYSTEMROOT",
    "GRADING_LANDLOCK", "GRADING_LANDLOCK_SIGNALS", "GRADING_SECCOMP",  # the confinement's switches (tests turn parts off)
    "GRADING_WORKERS", "USERPROFILE", "LOCALAPPDATA", "APPDATA", "WINDIR", "COMSPEC", "PATHEXT",  # Windows' own, which Python and torch need
)  # fmt: skip
_DEATHS_PER_STEP = 2  # a step that stops the judge this often loses its remaining checks


@dataclass
class JudgeRun:
    """What one judge process reported."""

    collected: list[dict] = field(default_factory=list)  # each check's facts (plugin.check_facts)
    tests: list[dict] = field(default_factory=list)  # pytest-json-report entries
    started: list[str] = field(default_factory=list)
    streamed: list[dict] = field(default_factory=list)  # each check's result as it finished
    finished: bool = False
    exitstatus: int | None = None  # pytest's, as the judge reported it with its report
    loaded: list[str] = field(default_factory=list)  # heavy modules the judge had imported (plugin.HEAVY_MODULES)
    workers: str = ""  # "fork" or "spawn", as the judge announced it
    confinement: list[list[str]] = field(default_factory=list)  # what took effect, per worker (before any submission code)
    integrity: list[dict] = field(default_factory=list)  # run-time flags the workers' audit reported
    log: str = ""

    @property
    def interrupted_step(self) -> str | None:
        """The step whose check was running when the judge died."""
        if self.finished or not self.started:
            return None
        step = step_of(self.started[-1].split("::")[0])
        return step.id if step else None


@dataclass
class Outcome:
    """All judge runs of one grading, merged."""

    collected: list[dict]  # each expected check's facts, as the first judge announced them
    tests: list[dict]  # pytest-json-report entries of the checks that reported
    stopped_steps: dict[str, str]  # step id -> why it was stopped
    duration: float
    log: str = ""
    loaded: list[str] = field(default_factory=list)  # heavy modules any judge imported
    workers: str = ""  # how the workers were started: "fork" or "spawn"
    confinement: list[str] = field(default_factory=list)  # the measures that confined every worker
    integrity: list[dict] = field(default_factory=list)  # run-time flags (grading.engine.audit)


def test_files(include_hidden: bool, steps: list[str] | None = None) -> list[Path]:
    """The grader's test files, visible first, for the given steps."""
    folders = [Path("tests/visible")] + ([Path("tests/hidden")] if include_hidden else [])
    found = []
    for folder in folders:
        for step in STEPS:
            path = folder / f"test_step_{step.id}.py"
            if (steps is None or step.id in steps) and (GRADER_ROOT / path).exists():
                found.append(path)
    return found


# judge.ini's signal method needs SIGALRM; Windows has none, so there a timer
# thread ends a check that outlives its limit (and with it the judge, which
# the relaunch below survives).
_TIMEOUT_METHOD = () if hasattr(signal, "SIGALRM") else ("-o", "timeout_method=thread")


def judge_environment(limits: Limits) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEPT}
    env.update(limits.as_env())
    env.update(
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
        # Transparent huge pages for malloc's heap (glibc; where the system
        # allows them on request): a judge forks a worker per step, and
        # copying the page tables of a process that has torch loaded is
        # several times cheaper in 2 MB pages. Elsewhere it means nothing.
        GLIBC_TUNABLES="glibc.malloc.hugetlb=1",
    )
    return env


def judge_arguments(submission: Path, test_paths: list[Path], results_fd: int | str, limits: Limits, skip: set[str], deselect=()) -> list[str]:
    """pytest's arguments for the judge (after ``python -m pytest``)."""
    return [
        "-c", str(JUDGE_INI), "--rootdir", str(GRADER_ROOT), "--noconftest",
        "-p", "no:cacheprovider", "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin",
        "-p", "no:stepwise", "-p", "no:lsof", "-p", "no:nose",
        # No student code runs in the judge, so nothing for these to catch; their
        # log capture around every check and their final gc passes over torch's
        # and transformers' heap cost about a second a submission. For the same
        # reason its output is not captured check by check: it goes to the log.
        "-p", "no:logging", "-p", "no:unraisableexception", "-p", "no:threadexception", "--capture=no",
        "-p", "grading.engine.plugin",
        "-p", "pytest_jsonreport.plugin", "-p", "pytest_timeout",
        # A failed check's feedback is its own message; the traceback goes to
        # the log only. Python's native format reads the lines it shows, where
        # pytest's parses each frame's whole source file: that took half the
        # judge's time on a submission whose checks mostly fail.
        "--assert=plain", "-q", "--tb=native", "--color=no",
        "--json-report", "--json-report-file=none",
        "--json-report-omit", "collectors", "log", "streams", "warnings", "keywords",
        "--timeout", f"{limits.test_timeout:g}", *_TIMEOUT_METHOD, "--continue-on-collection-errors",
        "--submission", str(submission),
        "--results-fd", str(results_fd),
        "--skip-steps", ",".join(sorted(skip)),
        *[arg for nodeid in sorted(deselect) for arg in ("--deselect", nodeid)],
        *[str(f) for f in test_paths],
    ]  # fmt: skip


def judge_command(submission: Path, test_paths: list[Path], results_fd: int, limits: Limits, skip: set[str], deselect=()) -> list[str]:
    return [sys.executable, "-m", "pytest", *judge_arguments(submission, test_paths, results_fd, limits, skip, deselect)]


def _passing(write_fd: int) -> tuple[int, dict]:
    """What the judge is told to write to, and how Popen passes it: the file
    descriptor on POSIX; on Windows, which passes no descriptors, the pipe's
    handle, inherited alone."""
    if os.name != "nt":
        return write_fd, {"pass_fds": (write_fd,), "start_new_session": True}
    import msvcrt

    handle = msvcrt.get_osfhandle(write_fd)
    os.set_handle_inheritable(handle, True)
    info = subprocess.STARTUPINFO(lpAttributeList={"handle_list": [handle]})
    return handle, {"startupinfo": info, "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}


def run_judge(submission: Path, test_paths: list[Path], limits: Limits, skip: set[str], zygote: Zygote | None = None, deselect=()) -> JudgeRun:
    """One judge process over ``test_paths``: a fresh ``python -m pytest``, or
    a judge forked from a warm ``zygote``; the same arguments either way."""
    read_fd, write_fd = os.pipe()
    run = JudgeRun()
    with tempfile.TemporaryFile() as log:
        if zygote is None:
            results_fd, passing = _passing(write_fd)
            process = subprocess.Popen(
                judge_command(submission, test_paths, results_fd, limits, skip, deselect),
                cwd=GRADER_ROOT,
                env=judge_environment(limits),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **passing,
            )
        else:
            arguments = judge_arguments(submission, test_paths, "{results_fd}", limits, skip, deselect)
            process = zygote.launch(arguments, judge_environment(limits), write_fd, log.fileno())
        os.close(write_fd)
        deadline = time.monotonic() + limits.judge_timeout
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as stream:
            for line in _lines_until(stream, deadline):
                _take_event(run, line)
                if run.finished:
                    break  # the report is the judge's last word: no need to wait for its exit
        status = _stop(process, deadline, run.exitstatus if run.finished else None, reap_strays=zygote is None)
        if status not in (0, 1):  # pytest: 0 all passed, 1 some failed; anything else is a judge that died
            run.finished = False
        log.seek(0)
        run.log = log.read(4_000_000).decode("utf-8", "replace")
    return run


def _lines_until(stream, deadline):
    buffer = ""
    while True:
        try:
            chunk = _read_until(stream.fileno(), deadline).decode("utf-8", "replace")
        except (TimeoutError, OSError):
            return
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split("\n")
        yield from lines


def _read_until(fd: int, deadline: float) -> bytes:
    """Some bytes from the results pipe (b"" at its end); TimeoutError at the deadline."""
    import select

    from .protocol import SELECTABLE_PIPES, _in_thread

    if not SELECTABLE_PIPES:  # Windows: wait for a helper thread's read instead
        return _in_thread(lambda own: os.read(own, 1 << 20), fd, deadline)
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
        raise TimeoutError
    return os.read(fd, 1 << 20)


def _take_event(run: JudgeRun, line: str):
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return
    if not isinstance(event, dict):
        return
    kind = event.get("event")
    if kind == "collected" and not run.collected:  # sent before any worker exists; only the first counts
        run.collected = [c for c in event.get("checks", []) if isinstance(c, dict) and isinstance(c.get("nodeid"), str)]
    elif kind == "start":
        run.started.append(str(event.get("nodeid", "")))
    elif kind == "result":
        test = event.get("test")
        if isinstance(test, dict) and isinstance(test.get("nodeid"), str):
            run.streamed.append(test)
    elif kind == "workers" and event.get("kind") in ("fork", "spawn"):
        run.workers = event["kind"]
    elif kind == "worker" and isinstance(event.get("confinement"), list):
        run.confinement.append([str(name) for name in event["confinement"]])
    elif kind == "audit":
        for flag in event.get("flags") or []:
            if isinstance(flag, dict) and all(isinstance(flag.get(k), str) for k in ("kind", "file", "detail")):
                run.integrity.append({"kind": flag["kind"], "file": flag["file"], "line": int(flag.get("line") or 0), "detail": flag["detail"]})
    elif kind == "report":
        tests = event.get("report", {}).get("tests", [])
        run.tests = [t for t in tests if isinstance(t, dict) and isinstance(t.get("nodeid"), str)]
        run.exitstatus = event.get("exitstatus")
        run.loaded = [str(name) for name in event.get("loaded", [])]
        run.finished = True


def _stop(process, deadline: float, reported_status: int | None = None, reap_strays: bool = True) -> int | None:
    """End the judge's whole session and any orphan left behind; return the
    judge's exit status (None if it had to be killed). A judge that sent its
    final report has cleaned up already and is ended at once: the ~1 s an
    interpreter with torch loaded takes to exit buys nothing. ``process`` is
    a ``Popen`` or a ``zygote.ForkedJudge`` (whose orphans the zygote ends)."""
    if reported_status is not None:
        status = reported_status
    else:
        try:
            status = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            status = None
    if os.name == "nt":  # no sessions to signal: end the judge's whole tree
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False)
        process.kill()
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the judge and any worker left in its session
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()
    if reap_strays:
        reaping.kill_strays()  # orphans adopted because we are a subreaper
    return status


def grader_files_state() -> dict[str, tuple]:
    """(size, ctime, inode) of the grader's own files and folders. ctime cannot
    be set back, so a change shows even if the content was restored."""
    state = {}
    for path in files.grader_paths(GRADER_ROOT, folders=True):
        try:
            info = path.lstat()
        except OSError:
            continue
        state[str(path)] = (info.st_size, info.st_ctime_ns, info.st_ino)
    return state


def judge(
    submission: Path, *, include_hidden=True, steps: list[str] | None = None, limits: Limits | None = None, zygote: Zygote | None = None
) -> Outcome:
    """Grade ``submission`` with the grader's tests; survive a judge that dies.

    The expected checks are the first judge's collection, which it reports
    before any worker (any submission code) exists. A check that no judge
    reported counts as failed (``scoring``); a report entry that was not
    expected is dropped.
    """
    limits = limits or Limits.from_env()
    test_paths = test_files(include_hidden, steps)
    if zygote is None:
        reaping.become_subreaper()  # a worker's escaped children become ours to end (else the zygote's)
    started = time.monotonic()
    before = grader_files_state()
    expected: list[str] = []
    tests: dict[str, dict] = {}
    stopped: dict[str, str] = {}
    deaths: dict[str, int] = {}
    lost: set[str] = set()  # checks running when a judge died: never run again
    logs, flags = [], []
    loaded: set[str] = set()
    runs = []
    for _attempt in range(_DEATHS_PER_STEP * len(STEPS) + 1):
        skip = {step for step, count in deaths.items() if count >= _DEATHS_PER_STEP}
        paths = {str(f) for f in test_paths}
        done = {nodeid for nodeid in set(tests) | lost if nodeid.split("::")[0] in paths}
        run = run_judge(submission, test_paths, limits, skip, zygote, deselect=done)
        runs.append(run)
        logs.append(run.log)
        loaded.update(run.loaded)
        flags += [f for f in run.integrity if f not in flags]
        if not expected:
            expected = run.collected
        wanted = {c["nodeid"] for c in expected}
        for test in run.tests if run.finished else run.streamed:
            if test["nodeid"] in wanted:
                tests[test["nodeid"]] = test
        if run.finished:
            break
        culprit = run.interrupted_step
        if culprit is None or deaths.get(culprit, 0) >= _DEATHS_PER_STEP:
            break  # the judge failed for a reason of its own; report what we have
        deaths[culprit] = deaths.get(culprit, 0) + 1
        lost.add(run.started[-1])
        lost_what = "this check could not finish" if deaths[culprit] < _DEATHS_PER_STEP else f"step {culprit}'s remaining checks could not run"
        stopped[culprit] = (
            f"the grader's own process was stopped while step {culprit} was being checked, "
            f"so {lost_what} (does your code kill or signal other processes?)"
        )
        ended = {step_of(n.split("::")[0]).id for n in tests if step_of(n.split("::")[0])} - {culprit}
        if deaths[culprit] >= _DEATHS_PER_STEP:
            ended.add(culprit)
        test_paths = [f for f in test_paths if step_of(f) and step_of(f).id not in ended]
        if not test_paths:
            break  # every other step had finished before the judge died
        if grader_files_state() != before:  # a new judge would load what the submission wrote: never
            for step in STEPS:
                stopped.setdefault(
                    step.id,
                    f"the grader's own files were changed while step {culprit} was being checked, "
                    "so the checks that had not run yet were not run",
                )
            break
    confined = [names for r in runs for names in r.confinement]
    everywhere = [name for name in confined[0] if all(name in names for names in confined)] if confined else []
    workers = next((r.workers for r in runs if r.workers), "")
    return Outcome(expected, list(tests.values()), stopped, time.monotonic() - started, "\n".join(logs), sorted(loaded), workers, everywhere, flags)
