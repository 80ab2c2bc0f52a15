"""The judge's pytest plugin: loaded with ``-p grading.plugin`` by
``grading.runner`` into the one pytest process that grades a submission.

It gives tests the ``student`` fixture (a sandboxed ``Worker`` for the test's
step, see ``grading.engine.worker``). It announces every collected check with
its facts (title, hint, weight, visibility) before any worker exists, turns
each check's outcome into metadata for pytest-json-report (the
student-facing message and its kind), and streams all of it to the file
descriptor the runner passed in ``--results-fd``, which no worker holds.

The judge imports no submission code: everything a submission does happens in
workers.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from ..config import STEPS_BY_ID, Limits, step_of, worker_kind
from .checks import CheckFailure
from .prerequisites import preload_references
from .protocol import SandboxError
from .reaping import become_subreaper, kill_strays
from .worker import Worker, spawn_interpreter, start_plan


def pytest_addoption(parser):
    group = parser.getgroup("grading")
    group.addoption("--submission", help="folder holding step_01.py … step_12.py")
    group.addoption("--results-fd", type=int, help="file descriptor for the results stream")
    group.addoption("--skip-steps", default="", help="comma-separated step ids not to run")


def pytest_configure(config):
    config.addinivalue_line("markers", "check(title, hint, weight, integration): a graded check")
    _make_process_private()
    become_subreaper()  # a worker's escaped children are ours to end, step by step
    config._grading = Judge(config)  # before torch: spawned interpreters import theirs meanwhile
    import torch

    torch.set_num_threads(1)  # tiny models; and keeps the fork into workers simple
    config.pluginmanager.register(config._grading, "grading-judge")


def _make_process_private():
    """Make /proc/<judge>/fd and /proc/<judge>/mem unreadable to workers, so a
    worker cannot reopen the results stream (PR_SET_DUMPABLE = 0)."""
    try:
        ctypes.CDLL(None).prctl(4, 0)
    except (OSError, AttributeError, TypeError):  # not Linux
        pass


class Judge:
    def __init__(self, config):
        self.config = config
        option = config.option
        self.submission = Path(option.submission or ".").resolve()
        self.limits = Limits.from_env()
        self.skip = {s for s in (option.skip_steps or "").split(",") if s}
        fd = option.results_fd
        if fd and os.name == "nt":  # Windows passes the pipe as a handle
            import msvcrt

            fd = msvcrt.open_osfhandle(fd, os.O_WRONLY)
        self.stream = os.fdopen(fd, "w", buffering=1) if fd else None
        self.scratch = Path(tempfile.mkdtemp(prefix="grading-"))
        self.workers: dict[tuple[str, bool], Worker] = {}
        self.kind = worker_kind()
        self.test_modules: dict[str, tuple[str, ...]] = {}  # step -> the modules its probes come from
        self.starts: dict[str, list[str]] = {}  # nodeid -> steps whose spawned worker to start before it
        # Spawned interpreters for the first two steps, importing torch while this judge does.
        steps = {step.id for step in map(step_of, config.args) if step} - self.skip
        self.interpreters = [spawn_interpreter(self.scratch / f"worker-{n}.out") for n in range(min(2, len(steps)) * (self.kind == "spawn"))]
        self.partial: dict[str, dict] = {}
        self.report: dict | None = None

    # -- results stream --------------------------------------------------------

    def emit(self, **event):
        if self.stream is not None:
            self.stream.write(json.dumps(event) + "\n")

    # -- collection ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config, items):
        kept, skipped = [], []
        for item in items:
            step = step_of(item.path)
            item.stash[STEP_KEY] = step.id if step else ""
            (skipped if item.stash[STEP_KEY] in self.skip else kept).append(item)
        kept.sort(key=lambda it: it.stash[STEP_KEY])  # stable: visible then hidden within a step
        if skipped:
            config.hook.pytest_deselected(items=skipped)
        items[:] = kept

    def pytest_collection_finish(self, session):
        self.emit(event="collected", checks=[check_facts(item) for item in session.items])
        self.emit(event="workers", kind=self.kind)
        plan = [(it.nodeid, it.stash[STEP_KEY], getattr(getattr(it, "module", None), "__name__", "")) for it in session.items]
        self.test_modules, starts = start_plan(plan)
        if self.kind == "spawn":  # a fresh interpreter takes seconds: start each step's ahead of its checks
            self.starts = starts
            self.start_workers("")

    def pytest_runtest_logstart(self, nodeid, location):
        self.emit(event="start", nodeid=nodeid)

    @pytest.hookimpl(tryfirst=True, hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        """Before the check's time limit starts (pytest-timeout's timer is
        inside this wrapper): start the spawned workers planned here, and let
        this check's own finish starting, which no submission code is part of."""
        self.start_workers(item.nodeid)
        uses = getattr(item, "fixturenames", ())
        for own_stack, fixture in ((False, "student"), (True, "student_own_stack")):
            if self.kind == "spawn" and fixture in uses and item.stash.get(STEP_KEY, ""):
                try:
                    self.worker(item.stash[STEP_KEY], own_stack).ready()
                except SandboxError:
                    pass  # the check's first call reports it
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """Stream each check's result as soon as it is known, so that the
        checks a judge finished still count if a later step kills it."""
        outcome = yield
        report = outcome.get_result()
        entry = self.partial.setdefault(item.nodeid, {"nodeid": item.nodeid, "outcome": "passed", "metadata": {}})
        entry["metadata"].update(self.pytest_json_runtest_metadata(item, call))
        if report.when == "call" and not report.passed:
            entry["outcome"] = report.outcome
        elif report.when != "call" and report.failed:
            entry["outcome"] = "error"
        elif report.skipped:
            entry["outcome"] = "skipped"
        if report.when == "teardown":
            self.emit(event="result", test=self.partial.pop(item.nodeid))

    def pytest_runtest_teardown(self, item, nextitem):
        step = item.stash.get(STEP_KEY, "")
        if nextitem is None or nextitem.stash.get(STEP_KEY, "") != step:
            self.close_workers(step)  # the step is done: free its memory now

    # -- metadata for pytest-json-report ---------------------------------------

    def pytest_json_runtest_metadata(self, item, call):
        if call.excinfo is not None and call.when in ("setup", "call"):
            return feedback_for(call.excinfo)
        return {}

    def pytest_json_modifyreport(self, json_report):
        self.report = json_report  # sent last, once everything is cleaned up

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self.close_workers()
        kill_strays()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.report is not None:
            heavy = sorted(name for name in HEAVY_MODULES if name in sys.modules)
            self.emit(event="report", report=self.report, exitstatus=int(exitstatus), loaded=heavy)

    # -- workers ---------------------------------------------------------------

    def worker(self, step_id: str, own_stack: bool = False) -> Worker:
        key = (step_id, own_stack)
        if key not in self.workers:
            preload_references(STEPS_BY_ID[step_id])
            self.workers[key] = Worker(self.submission, STEPS_BY_ID[step_id], self.limits, self.scratch, own_stack,
                                       kind=self.kind, test_modules=self.test_modules.get(step_id, ()), on_ready=self.worker_ready)  # fmt: skip
        return self.workers[key]

    def start_workers(self, nodeid: str):
        for step_id in self.starts.pop(nodeid, ()):
            self.worker(step_id).start(self.interpreters.pop(0) if self.interpreters else None)

    def worker_ready(self, worker: Worker):
        """A worker confined itself (before any submission code): what took effect is a fact of the run."""
        self.emit(event="worker", step=worker.step.id, kind=worker.kind, confinement=worker.confinement)

    def close_workers(self, step_id: str | None = None):
        for key in [k for k in self.workers if step_id is None or k[0] == step_id]:
            self.workers.pop(key).close()
        while step_id is None and self.interpreters:  # started, never needed
            self.interpreters.pop().close()


STEP_KEY = pytest.StashKey[str]()
# Reported with the judge's last word, so a test can hold `check` to torch
# alone: the visible checks never need transformers' seconds of import.
HEAVY_MODULES = ("transformers",)


def check_facts(item) -> dict:
    """What a check is, fixed when it is collected: the scoring needs these
    even for a check whose judge died before it reported."""
    marker = item.get_closest_marker("check")
    info = dict(marker.kwargs) if marker else {"title": item.name, "hint": "", "weight": 0.0}
    params = getattr(item, "callspec", None)
    title = info["title"]
    if params is not None and "{" in title:  # e.g. "{name} is set correctly"
        title = title.format(**params.params)
    elif params is not None:
        title = f"{title} [{params.id}]"
    return {
        "nodeid": item.nodeid,
        "step": item.stash.get(STEP_KEY, ""),
        "title": title,
        "hint": info.get("hint", ""),
        "weight": float(info.get("weight", 0.0)),
        "integration": bool(info.get("integration")),
        "visibility": "hidden" if "hidden" in item.path.parts else "visible",
    }


def feedback_for(excinfo) -> dict:
    """The student-facing account of why a check failed, with its kind."""
    error = excinfo.value
    if isinstance(error, CheckFailure) or type(error) is AssertionError:
        return {"message": str(error) or "the check failed", "kind": "check"}
    if isinstance(error, SandboxError):
        info = {"message": str(error), "kind": error.kind}
        if error.location:
            info["location"] = error.location
        if error.output:
            info["output"] = error.output
        return info
    if _raised_by_pytest_timeout(excinfo):
        return {"message": "the check took longer than its time limit", "kind": "timeout"}
    return {
        "message": f"the grader hit an internal error ({type(error).__name__}) in this check; "
        "please tell your instructor",
        "kind": "internal",
    }


def _raised_by_pytest_timeout(excinfo) -> bool:
    return any(Path(str(entry.path)).name == "pytest_timeout.py" for entry in excinfo.traceback)


def _judge(request) -> Judge:
    return request.config._grading


@pytest.fixture(scope="module")
def student(request):
    """The sandboxed worker for this module's step: ``student.call(probe, ...)``
    runs ``probe(step_module, ...)`` inside it."""
    step = step_of(request.path)
    return _judge(request).worker(step.id)


@pytest.fixture(scope="module")
def student_own_stack(request):
    """Like ``student``, but the earlier steps are the submission's own too."""
    step = step_of(request.path)
    return _judge(request).worker(step.id, own_stack=True)
