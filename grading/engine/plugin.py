"""The judge's pytest plugin: loaded with ``-p grading.plugin`` by
``grading.runner`` into the one pytest process that grades a submission.

It gives tests the ``student`` fixture (a sandboxed ``Worker`` for the test's
step, see ``grading.engine.worker``). It announces every collected check with
its facts (title, hint, weight, visibility, foundation) before any worker
exists, turns each check's outcome into metadata for pytest-json-report (the
student-facing message and its kind), and streams all of it, with the
integrity flags the workers' audit reported (``grading.engine.audit``), to
the file descriptor the runner passed in ``--results-fd``, which no worker
holds.

**Credit on either foundation.** Where the grader has reference modules (the
source and the grader bundle), every check of a later step that uses
``student`` is collected twice, through the module-scoped ``foundation``
parameter: on the grader's steps (``[grader-steps]``, the worker overlays the
earlier steps' API with the references) and on the student's own
(``[own-steps]``, the twin, an own-stack worker). Steps run in order, and a
twin runs only when its counterpart failed and every earlier step has passed
all its checks so far in this run. A twin whose counterpart passed is left
out without a report; any other is skipped before any worker exists, so a
correct submission pays almost nothing for its twins. Scoring
(``grading.report.scoring``) merges each pair into one check that passes if
either passed. In the student template there are no references, a step
already runs on the student's own steps, and nothing is doubled.

The judge imports no submission code: everything a submission does happens in
workers.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from ..config import STEPS, STEPS_BY_ID, Limits, step_of, worker_kind
from . import partner
from .checks import CheckFailure, import_reference_libraries, manual_seed, references_pending
from .prerequisites import preload_references, references_exist
from .protocol import SandboxError
from .reaping import become_subreaper, kill_strays, settle
from .worker import Worker, spawn_interpreter, start_plan


def pytest_addoption(parser):
    group = parser.getgroup("grading")
    group.addoption("--submission", help="folder holding step_01.py … step_12.py")
    group.addoption("--results-fd", type=int, help="file descriptor for the results stream")
    group.addoption("--skip-steps", default="", help="comma-separated step ids not to run")


def pytest_configure(config):
    # No collections while torch, transformers and the checks are imported:
    # they cost a fifth of those seconds and find almost nothing to free.
    # What the imports made is frozen once the checks are collected.
    gc.disable()
    config.addinivalue_line("markers", "check(title, hint, weight): a graded check")
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
        self.skip = {s for s in (config.option.skip_steps or "").split(",") if s}
        # What collection finds out, the same for every submission:
        self.test_modules: dict[str, tuple[str, ...]] = {}  # step -> the modules its probes come from
        self.starts: dict[str, list[str]] = {}  # nodeid -> steps whose worker to start before it
        self.twin_of: dict[str, str] = {}  # a check's nodeid -> its twin's (for checks that have one)
        self.checks_of_step: dict[str, list[str]] = {}  # step id -> nodeids of its checks (no twins)
        self.partner: partner.Partner | None = None  # in a lone judge: the partner checking its last steps
        self.partner_report: dict | None = None  # its last word, once it has ended
        self.judge_outcomes: partner.JudgeOutcomes | None = None  # in that partner: the judge's outcomes
        self.seeded_step = ""  # the step whose checks run now, which began from STEP_SEED
        self.take_submission(config.option.submission, config.option.results_fd)

    def take_submission(self, submission: str | None, results_fd: int | None):
        """What belongs to one submission's run: its folder, limits, results
        stream, scratch folder and workers. A judge forked from a session
        that collected already (``grading.engine.zygote``) takes its own here."""
        self.submission = Path(submission or ".").resolve()
        self.limits = Limits.from_env()
        self.kind = worker_kind()
        fd = results_fd
        if fd and os.name == "nt":  # Windows passes the pipe as a handle
            import msvcrt

            fd = msvcrt.open_osfhandle(fd, os.O_WRONLY)
        self.stream = os.fdopen(fd, "w", buffering=1) if fd else None
        self.scratch = Path(tempfile.mkdtemp(prefix="grading-"))
        self.workers: dict[tuple[str, bool], Worker] = {}
        # Spawned interpreters for the first two steps, importing torch while this judge does.
        steps = {step.id for step in map(step_of, self.config.args) if step} - self.skip
        self.interpreters = [spawn_interpreter(self.scratch / f"worker-{n}.out") for n in range(min(2, len(steps)) * (self.kind == "spawn"))]
        self.partial: dict[str, dict] = {}
        self.outcomes: dict[str, str] = {}  # nodeid -> "passed", "failed", "skipped", "error"
        self.report: dict | None = None

    # -- results stream --------------------------------------------------------

    def emit(self, **event):
        self.relay(json.dumps(event))

    def relay(self, line: str):
        if self.stream is not None:
            self.stream.write(line + "\n")

    # -- collection ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config, items):
        kept, skipped = [], []
        for item in items:
            step = step_of(item.path)
            item.stash[STEP_KEY] = step.id if step else ""
            (skipped if item.stash[STEP_KEY] in self.skip else kept).append(item)
        if skipped:
            config.hook.pytest_deselected(items=skipped)
        items[:] = kept

    def order_checks(self, config, items):
        """Each step's checks together, in step order (visible then hidden, as
        collected), and within a test file every twin after the checks on the
        grader's steps, so a twin knows its counterpart's outcome and the
        earlier steps' when it runs. Called after pytest's own reordering."""
        files = {}
        for item in items:
            files.setdefault(item.path, len(files))
        items.sort(key=lambda it: (it.stash[STEP_KEY], files[it.path], foundation_of(it) == OWN))
        primaries = {_pair_key(it): it.nodeid for it in items if foundation_of(it) == GRADER}
        orphans = [it for it in items if foundation_of(it) == OWN and _pair_key(it) not in primaries]
        if orphans:  # a twin whose counterpart was deselected has nothing to stand in for
            config.hook.pytest_deselected(items=orphans)
            items[:] = [it for it in items if it not in orphans]
        for item in items:
            twin = foundation_of(item) == OWN
            item.stash[TWIN_KEY] = primaries[_pair_key(item)] if twin else ""
            if twin:
                self.twin_of[item.stash[TWIN_KEY]] = item.nodeid
            else:
                self.checks_of_step.setdefault(item.stash[STEP_KEY], []).append(item.nodeid)

    def pytest_collection_finish(self, session):
        if any(_visibility(item) == "hidden" for item in session.items):
            import_reference_libraries()  # now, to be frozen with the rest and shared by partner and workers
        # Everything imported so far (torch, transformers, the checks) lives as
        # long as the judge: the collector need not walk it again, and forked
        # workers then share its pages instead of copying them.
        gc.freeze()
        gc.enable()
        self.plan_workers(session)
        if not self.config.stash.get(KEPT_COLLECTED, False):
            self.begin(session)

    def plan_workers(self, session):
        plan = [(it.nodeid, it.stash[STEP_KEY], getattr(getattr(it, "module", None), "__name__", "")) for it in session.items]
        self.test_modules, self.starts = start_plan(plan)

    def begin(self, session):
        """The run proper: announce every collected check with its facts, and
        start the first workers. Each step's worker starts ahead of its
        checks: a spawned one imports torch meanwhile (seconds), a forked one
        confines itself on another core. A session kept collected for many
        submissions (``KEPT_COLLECTED``) begins in each judge forked from it."""
        self.emit(event="collected", checks=[check_facts(item) for item in session.items])
        self.emit(event="workers", kind=self.kind)
        if self.kind == "fork" and references_pending():  # a lone judge, where forking it is safe
            self.partner, self.judge_outcomes, results = partner.split(session, lambda item: item.stash[STEP_KEY])
            if results is not None:
                self.become_partner(results)
            self.plan_workers(session)
        self.start_workers("")

    def become_partner(self, results):
        """In the partner just forked (``grading.engine.partner``): its own
        results stream, scratch folder and orphans."""
        if self.stream is not None:
            self.stream.close()  # the judge's results pipe stays the judge's alone
        self.stream = results
        self.scratch = Path(tempfile.mkdtemp(prefix="grading-"))
        become_subreaper()  # not inherited through fork

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session):
        yield
        if self.partner is not None:  # its steps are done too once it has ended
            self.partner_report = self.partner.finish(self.outcomes, self.relay)

    def pytest_runtest_logstart(self, nodeid, location):
        self.emit(event="start", nodeid=nodeid)

    @pytest.hookimpl(tryfirst=True, hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        """Before the check's time limit starts (pytest-timeout's timer is
        inside this wrapper): start the workers planned here, and let a
        spawned worker of this check's own finish starting, which no
        submission code is part of (a forked one is waited for at its first call)."""
        self.start_workers(item.nodeid)
        step_id = item.stash.get(STEP_KEY, "")
        if step_id != self.seeded_step:  # whatever ran before it, here or in another judge
            manual_seed(STEP_SEED)
            self.seeded_step = step_id
        # A twin on the student's own steps is mostly skipped: its worker starts when it runs.
        if self.kind == "spawn" and step_id and "student" in getattr(item, "fixturenames", ()) and foundation_of(item) != OWN:
            try:
                self.worker(step_id).ready()
            except SandboxError:
                pass  # the check's first call reports it
        yield

    def needless(self, item) -> bool:
        """A twin whose counterpart passed: it cannot change the grade."""
        counterpart = item.stash.get(TWIN_KEY, "")
        return bool(counterpart) and self.outcomes.get(counterpart) == "passed"

    def pass_over(self, item, nextitem):
        """Leave out a needless twin altogether: no setup, no report (scoring
        folds no twin into a passed check). A correct submission has one
        such twin per check of steps 02-12, and the reports of a skip cost
        as much as many a check. What its teardown would have done still
        happens, so the next check finds the fixtures as a run would leave them."""
        item.session._setupstate.teardown_exact(nextitem)
        self.pytest_runtest_teardown(item, nextitem)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        """Skip a twin, before its fixtures (and so any worker) exist, unless
        it can change the grade: its counterpart failed and every earlier
        step is fully correct so far."""
        counterpart = item.stash.get(TWIN_KEY, "")
        if not counterpart:
            return
        ungraded, unready = self.unready_steps(item.stash[STEP_KEY])
        if unready:
            item.stash[UNREADY_KEY] = unready
            pytest.skip(f"not run on your own steps: {_steps(unready)} did not pass all checks")
        if ungraded:
            pytest.skip(f"not run on your own steps: {_steps(ungraded)} not graded in this run")

    def unready_steps(self, step_id: str) -> tuple[list[str], list[str]]:
        """The earlier steps not graded in this run, and those not fully
        correct so far (a check passes if it passed on either foundation)."""
        ungraded, unready = [], []
        for earlier in STEPS:
            if earlier.id >= step_id:
                break
            checks = self.checks_of_step.get(earlier.id, [])
            if not checks:
                ungraded.append(earlier.id)
            elif not all(self.passed(nodeid) for nodeid in checks):
                unready.append(earlier.id)
        return ungraded, unready

    def passed(self, nodeid: str) -> bool:
        twin = self.twin_of.get(nodeid)
        return self.outcome(nodeid) == "passed" or (twin is not None and self.outcome(twin) == "passed")

    def outcome(self, nodeid: str) -> str | None:
        if nodeid not in self.outcomes and self.judge_outcomes is not None:  # a check of the judge's steps
            return self.judge_outcomes.get().get(nodeid)
        return self.outcomes.get(nodeid)

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
            self.outcomes[item.nodeid] = entry["outcome"]
            self.emit(event="result", test=self.partial.pop(item.nodeid))

    def pytest_runtest_teardown(self, item, nextitem):
        self.emit_flags(self.workers.values())  # as soon as a check ends: a judge that dies later keeps them
        step = item.stash.get(STEP_KEY, "")
        if nextitem is None or nextitem.stash.get(STEP_KEY, "") != step:
            self.close_workers(step)  # the step is done: free its memory now

    # -- metadata for pytest-json-report ---------------------------------------

    def pytest_json_runtest_metadata(self, item, call):
        if call.excinfo is not None and call.when in ("setup", "call"):
            info = feedback_for(call.excinfo)
            if item.stash.get(UNREADY_KEY, None):  # a twin that could not run: which earlier steps held it back
                info["unready_steps"] = item.stash[UNREADY_KEY]
            return info
        return {}

    def pytest_json_modifyreport(self, json_report):
        self.report = json_report  # sent last, once everything is cleaned up

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self.close_workers()
        settle()
        kill_strays()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.partner is not None:
            exitstatus = self.fold_in_partner(exitstatus)
        if self.report is not None:
            heavy = sorted(name for name in HEAVY_MODULES if name in sys.modules)
            self.emit(event="report", report=self.report, exitstatus=int(exitstatus), loaded=heavy)
        if self.judge_outcomes is not None:  # a partner's last word: its judge is waiting for it to end
            self.stream.flush()
            os._exit(0)

    def fold_in_partner(self, exitstatus: int) -> int:
        """The partner's checks join this judge's report; a partner that ended
        without a report leaves this judge without one (see ``partner``)."""
        theirs = self.partner_report
        if theirs is None or self.report is None:
            self.report = None
            return exitstatus
        self.report["tests"] = self.report.get("tests", []) + theirs["report"].get("tests", [])
        return max(int(exitstatus), int(theirs.get("exitstatus", 0)))

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

    def emit_flags(self, workers):
        """Stream the integrity flags workers reported since the last time."""
        for worker in list(workers):
            flags = worker.audit.take_new()
            if flags:
                self.emit(event="audit", step=worker.step.id, flags=flags)

    def close_workers(self, step_id: str | None = None):
        for key in [k for k in self.workers if step_id is None or k[0] == step_id]:
            worker = self.workers.pop(key)
            worker.close()
            self.emit_flags([worker])
        while step_id is None and self.interpreters:  # started, never needed
            self.interpreters.pop().close()


STEP_KEY = pytest.StashKey[str]()
STEP_SEED = 0  # torch's global random state at the start of every step (see ``grading.engine.partner``)
# Set by grading.engine.collected_session, which keeps a collected session in
# the warm process to fork judges from: that session begins no run itself.
KEPT_COLLECTED = pytest.StashKey[bool]()
# Reported with the judge's last word, so a test can hold `check` to torch
# alone: the visible checks never need transformers' seconds of import.
HEAVY_MODULES = ("transformers",)
TWIN_KEY = pytest.StashKey[str]()  # a twin's counterpart (nodeid); "" for every other check
UNREADY_KEY = pytest.StashKey[list]()  # a skipped twin's earlier steps that are not fully correct
GRADER, OWN = "grader", "own"  # the foundations: the grader's earlier steps, the student's own
FOUNDATION_IDS = {GRADER: "grader-steps", OWN: "own-steps"}


@pytest.hookimpl(trylast=True)  # after the checks' own parametrize, so the foundation's id comes last
def pytest_generate_tests(metafunc):
    """Collect every check of a later step that uses ``student`` on both
    foundations (see the module docstring), where references exist."""
    step = step_of(metafunc.definition.path)
    if step is None or step.id == STEPS[0].id or "student" not in metafunc.fixturenames:
        return
    if references_exist(step):
        metafunc.parametrize(
            "foundation", [GRADER, OWN], ids=[FOUNDATION_IDS[GRADER], FOUNDATION_IDS[OWN]], indirect=True, scope="module"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """Before pytest's own protocol: a needless twin is passed over (``Judge.pass_over``)."""
    judge = item.config._grading
    if judge.needless(item):
        judge.pass_over(item, nextitem)
        return True
    return None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """The judge orders the checks last, after pytest's own reordering."""
    result = yield
    config._grading.order_checks(config, items)
    return result


def _steps(ids: list[str]) -> str:
    return f"step{'s' if len(ids) > 1 else ''} {', '.join(ids)}"


def foundation_of(item) -> str:
    """GRADER or OWN for a check collected on both foundations, else ""."""
    params = getattr(item, "callspec", None)
    return params.params.get("foundation", "") if params is not None else ""


def _pair_key(item):
    """The same for a check and its twin: its function and case."""
    case = _case_id(item) if getattr(item, "callspec", None) is not None else ""
    return item.path, item.originalname, case


def _case_id(item) -> str:
    """The check's parametrized case as students read it, without the foundation."""
    case = item.callspec.id
    foundation = foundation_of(item)
    if foundation:
        label = FOUNDATION_IDS[foundation]
        case = "" if case == label else case.removesuffix("-" + label)
    return case


def check_facts(item) -> dict:
    """What a check is, fixed when it is collected: the scoring needs these
    even for a check whose judge died before it reported. ``foundation`` is
    GRADER or OWN for a check collected on both; a twin (OWN) names its
    counterpart in ``twin_of``."""
    marker = item.get_closest_marker("check")
    info = dict(marker.kwargs) if marker else {"title": item.name, "hint": "", "weight": 0.0}
    params = getattr(item, "callspec", None)
    title = info["title"]
    if params is not None and "{" in title:  # e.g. "{name} is set correctly"
        title = title.format(**params.params)
    elif params is not None and _case_id(item):
        title = f"{title} [{_case_id(item)}]"
    return {
        "nodeid": item.nodeid,
        "step": item.stash.get(STEP_KEY, ""),
        "title": title,
        "hint": info.get("hint", ""),
        "weight": float(info.get("weight", 0.0)),
        "visibility": _visibility(item),
        "foundation": foundation_of(item),
        "twin_of": item.stash.get(TWIN_KEY, ""),
    }


def _visibility(item) -> str:
    return "hidden" if "hidden" in item.path.parts else "visible"


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
    if isinstance(error, pytest.skip.Exception):
        return {"message": str(error.msg), "kind": "skipped"}
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
def foundation(request) -> str:
    """Which earlier steps ``student`` runs on: GRADER (the references
    overlaid, where they exist) or OWN (the student's own, for a twin)."""
    return getattr(request, "param", GRADER)


@pytest.fixture(scope="module")
def student(request, foundation):
    """The sandboxed worker for this module's step: ``student.call(probe, ...)``
    runs ``probe(step_module, ...)`` inside it."""
    step = step_of(request.path)
    return _judge(request).worker(step.id, own_stack=foundation == OWN)
