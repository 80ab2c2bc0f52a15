"""Spawned workers give the same grades as forked ones, check by check.

Windows and macOS start each step's worker as a fresh ``python`` (spawn);
Linux forks it from the judge. ``GRADING_WORKERS=spawn`` makes Linux spawn
too, so this module grades, in both kinds, and compares every check's score
and status by name:

* the solutions (100/100), and the starters (0) of three steps (one with no
  earlier steps, one in the middle, the last): a starter raises the same
  NotImplementedError in every step;
* the mutation catalogue's first batch (the first mutant of every step in
  one submission, as ``test_mutants`` grades it), graded on the steps whose
  workers are set up differently (``SPAWNED_MUTANT_STEPS``): wrong code in
  each kind of worker. The solutions above have every step's worker
  spawned; the other steps' mutants, and the rest of the catalogue, add
  other numbers, not other paths through a worker, so they are graded by
  ``test_mutants`` in forked workers only;
* the adversarial cases whose attack acts on the worker process itself, in
  ``test_spawn_hostile`` (a file of their own, so the suite's two processes
  share the spawned gradings).

The fork side of the solutions is the session's ``solution_run``, and their
spawn side a whole ``python -m grading run``; the rest is graded here, fork
and spawn one after the other, by judges forked from the session's warm
process (``warm_grader``), whose workers are forked or spawned as
``GRADING_WORKERS`` says. A spawned worker imports torch (and, for the hidden
checks, transformers) itself, seconds each, so this module is one of the
suite's slow ones, and the subsets above keep it to a few minutes.

    pytest tests/suite/test_spawn.py -q
"""

from __future__ import annotations

import os

import pytest

from grading.config import GRADER_ROOT
from grading.engine import judge as runner
from tests.suite.mutation import make_submission as make_mutant
from tests.suite.test_mutants import batch

from .conftest import fresh_python, grading_cli


def checks(results: dict) -> dict[tuple[str, str], tuple[float, str]]:
    """Each check's (score, status), keyed by its name (and node id, which
    keeps a visible and a hidden check of one title apart)."""
    return {(t["name"], t["extra_data"]["nodeid"]): (t["score"], t["status"]) for t in results["tests"]}


def assert_same_grades(forked: dict, spawned: dict, what: str):
    a, b = checks(forked), checks(spawned)
    assert a, f"{what}: no checks were graded"
    assert sorted(a) == sorted(b), f"{what}: different checks: {sorted(set(a) ^ set(b))[:5]}"
    differ = {name: {"fork": a[key], "spawn": b[key]} for key in a if a[key] != b[key] for name in [key[0]]}
    assert not differ, f"{what}: {len(differ)} of {len(a)} checks graded differently: {dict(list(differ.items())[:5])}"
    assert forked["score"] == spawned["score"], what
    assert (forked["workers"], spawned["workers"]) == ("fork", "spawn"), what


def graded(grader, monkeypatch, kind: str, folder, steps=None, limits=None, env: dict | None = None) -> dict:
    """``folder`` graded with ``kind`` workers (and ``env`` set meanwhile)."""
    with monkeypatch.context() as patch:
        for key, value in {**(env or {}), "GRADING_WORKERS": kind}.items():
            patch.setenv(key, value)
        if (env or {}).get("GRADING_LANDLOCK") == "0":
            # a judge killed and relaunched: the relaunch must not depend on others editing the tree meanwhile
            patch.setattr(runner, "grader_files_state", lambda: {})
        return grader(folder, steps, limits=limits)


# -- the solutions and the starters ---------------------------------------------------------


def test_solutions_full_marks_and_same_grades(solution_run, tmp_path):
    run = grading_cli("run", "--submission", "solutions", json_path=tmp_path / "r.json", env={"GRADING_WORKERS": "spawn"})
    assert run.returncode == 0, run.stderr[-2000:]
    spawned = run.results
    assert spawned["score"] == 100 and spawned["workers"] == "spawn"
    assert "::notice title=Autograding complete::Points 100/100" in run.stdout
    assert_same_grades(solution_run.results, spawned, "solutions")


STARTER_STEPS = ["01", "07", "12"]


def test_starters_zero_and_same_grades(warm_grader, monkeypatch):
    starters = GRADER_ROOT / "assignments"
    forked = graded(warm_grader, monkeypatch, "fork", starters, STARTER_STEPS)
    spawned = graded(warm_grader, monkeypatch, "spawn", starters, STARTER_STEPS)
    assert spawned["score"] == 0 and all(t["status"] == "failed" for t in spawned["tests"])
    assert_same_grades(forked, spawned, "starters")


def test_results_say_how_workers_started_and_what_confined_them(solution_run):
    from grading.engine.confinement import APPLIED

    results = solution_run.results
    assert results["workers"] == "fork"
    measures = results["confinement"]["measures"]
    assert measures and set(measures) <= set(APPLIED)
    assert {"process-group", "only-its-pipes", "output-to-file", "output-cap", "memory-cap"} <= set(measures)
    assert {"reads", "writes", "signals", "kernel"} <= set(results["confinement"])


# -- the mutation catalogue -----------------------------------------------------------------


SPAWNED_BATCHES = 1  # of test_mutants.BATCHES; each holds a mutant of (nearly) every step
# One step of each kind of worker set-up: no earlier steps (01); probes that
# import parts of torch lazily, ahead of any call (02, the meta device); a
# reference overlay (07); the overlay of a whole model and twins on the
# student's own steps (11); sampling from a seeded generator (12). Each
# spawned worker imports torch (about 2 s).
SPAWNED_MUTANT_STEPS = ("01", "02", "07", "11", "12")


@pytest.mark.parametrize("k", range(SPAWNED_BATCHES), ids=[f"batch-{k}" for k in range(SPAWNED_BATCHES)])
def test_mutant_batch_same_grades(warm_grader, tmp_path, monkeypatch, k):
    mutants = batch(k)
    submission = make_mutant(tmp_path / "sub", mutants)
    steps = sorted(set(mutants) & set(SPAWNED_MUTANT_STEPS))
    assert len(steps) >= 3, f"batch {k} has mutants of {sorted(mutants)} only"
    forked = graded(warm_grader, monkeypatch, "fork", submission, steps)
    spawned = graded(warm_grader, monkeypatch, "spawn", submission, steps)
    assert_same_grades(forked, spawned, f"batch {k} ({', '.join(f'{s}: {m.name}' for s, m in mutants.items())})")


def test_an_unknown_worker_kind_is_one_clear_line():
    run = grading_cli("check", "1", env={"GRADING_WORKERS": "thread"})
    assert run.returncode == 2
    assert run.stderr.strip() == "error: GRADING_WORKERS is 'thread'; it can be fork or spawn"


# -- the parts, without a judge --------------------------------------------------------------


def test_a_spawned_worker_is_confined_and_ready_before_any_submission_code(tmp_path):
    """Started ahead and ready (torch, the test module, the references
    imported), it has run none of the submission: its step is imported at
    the first call, and that call's probe comes from the test module by name."""
    from grading.config import STEPS_BY_ID, Limits
    from grading.engine.probes import config_facts
    from grading.engine.worker import Worker

    submission = tmp_path / "sub"
    submission.mkdir()
    source = (GRADER_ROOT / "solutions" / "step_01.py").read_text()
    (submission / "step_01.py").write_text("print('the submission was imported')\n" + source)
    worker = Worker(submission, STEPS_BY_ID["01"], Limits(), tmp_path / "scratch", kind="spawn",
                    test_modules=("tests.visible.test_step_01",))  # fmt: skip
    try:
        worker.start()
        worker.ready()
        assert "private-temp" in worker.confinement and "only-its-pipes" in worker.confinement
        assert "the submission was imported" not in worker.output_path.read_text()
        facts = worker.call(config_facts)
        assert facts["values"]["vocab_size"] == 50257
        assert "the submission was imported" in worker.output_path.read_text()
    finally:
        worker.close()


def test_what_a_spawned_worker_loads_never_imports_transformers():
    """A spawned worker imports its step's test modules itself, for their
    probes, and the reference steps it is graded on. The test modules import
    transformers only where the judge computes their references, and the
    references are plain torch (a whole reference model built and run here),
    so no spawned worker spends seconds importing it."""
    from grading.config import STEPS

    modules = [f"tests.{kind}.test_{step.module}" for step in STEPS for kind in ("visible", "hidden")]
    references = [f"grading.reference.{step.module}" for step in STEPS[:-1]]  # every step's but the last, which no later step builds on
    imported = fresh_python(
        f"import sys, torch; import {', '.join(modules + references)}; "
        "from grading.reference.step_01 import GPT2Config; from grading.reference.step_11 import GPT2LMHeadModel; "
        "GPT2LMHeadModel(GPT2Config(vocab_size=11, n_positions=4, n_embd=8, n_layer=1, n_head=2, n_inner=32))(torch.zeros(2, 3, dtype=torch.long)); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'transformers')[:3])"
    )
    assert imported == "[]", f"the test modules and references imported {imported}"


def test_a_probe_on_the_meta_device_imports_nothing_inside_its_call():
    """The first use of the meta device makes torch import torch._dynamo
    (seconds). A spawned worker imports what its probes' modules declare
    before any call, as its step-02 worker would: the probe then imports
    nothing of torch, so that time never counts against a call's limit."""
    probe = (
        "import sys, torch; from grading.engine.worker import import_for_probes; "
        "import_for_probes(['tests.visible.test_step_02', 'tests.hidden.test_step_02']); "
        "sys.path.insert(0, 'solutions'); import step_02; from tests.hidden.test_step_02 import mask_on_meta; "
        "before = set(sys.modules); assert mask_on_meta(step_02, 3, 2)['device'] == 'meta'; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] == 'torch')[:3])"
    )
    imported = fresh_python(probe)
    assert imported == "[]", f"the probe imported {imported} inside its call"


def test_a_step_that_ends_its_process_at_import_is_not_started_again(tmp_path, monkeypatch):
    """Every new process would end the same way, and a spawned one costs
    seconds to start: the later calls fail at once, with the same words."""
    from grading.config import STEPS_BY_ID, Limits
    from grading.engine.probes import config_facts
    from grading.engine.protocol import WorkerCrashed
    from grading.engine.worker import Worker

    submission = tmp_path / "sub"
    submission.mkdir()
    (submission / "step_01.py").write_text("import os\n\nos._exit(4)\n")
    started = []
    spawn = Worker._spawn
    monkeypatch.setattr(Worker, "_spawn", lambda self, spawned: started.append(1) or spawn(self, spawned))
    worker = Worker(submission, STEPS_BY_ID["01"], Limits(), tmp_path / "scratch", kind="spawn",
                    test_modules=("tests.visible.test_step_01",))  # fmt: skip
    try:
        with pytest.raises(WorkerCrashed) as first:
            worker.call(config_facts)
        assert "exited (code 4)" in str(first.value)
        with pytest.raises(WorkerCrashed) as again:
            worker.call(config_facts)
        assert str(again.value) == str(first.value)
        assert len(started) == 1, "a new process was started for the second call"
    finally:
        worker.close()


def test_pipes_without_select_wait_in_a_thread(monkeypatch):
    """Windows cannot select() on pipes: the judge's reads and writes then
    wait for a helper thread, with the same deadlines and the same errors.
    (After a timeout the worker is killed, which ends the thread: each case
    here has its own pipe, closed at its end.)"""
    import time

    from grading.engine import protocol

    monkeypatch.setattr(protocol, "SELECTABLE_PIPES", False)

    def case(run):
        read_fd, write_fd = os.pipe()
        try:
            run(read_fd, write_fd)
        finally:
            os.close(write_fd)
            os.close(read_fd)

    def round_trip(read_fd, write_fd):
        protocol.write_message(write_fd, b"hello", time.monotonic() + 5)
        assert protocol.read_message(read_fd, time.monotonic() + 5) == b"hello"

    def times_out(read_fd, write_fd):
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            protocol.read_message(read_fd, time.monotonic() + 0.3)
        assert time.monotonic() - started < 2

    def watched(read_fd, write_fd):
        def watch():
            raise RuntimeError("the output grew too large")

        with pytest.raises(RuntimeError):
            protocol.read_message(read_fd, time.monotonic() + 5, watch=watch)

    def too_large(read_fd, write_fd):
        os.write(write_fd, protocol.HEADER.pack(1 << 40))
        with pytest.raises(protocol.ReplyTooLarge):
            protocol.read_message(read_fd, time.monotonic() + 5, protocol.MAX_REPLY)

    for run in (round_trip, times_out, watched, too_large):
        case(run)
    read_fd, write_fd = os.pipe()
    os.close(write_fd)  # the worker's end closed: the pipe ends
    with pytest.raises(EOFError):
        protocol.read_message(read_fd, time.monotonic() + 5)
    os.close(read_fd)


def test_start_plan_starts_each_step_one_step_ahead():
    from grading.engine.worker import start_plan

    items = [(f"tests/{kind}/test_step_{s}.py::t{i}", s, f"tests.{kind}.test_step_{s}") for s in ("01", "02", "05")
             for kind in ("visible", "hidden") for i in range(2)]  # fmt: skip
    modules, starts = start_plan(items)
    assert modules["02"] == ("tests.hidden.test_step_02", "tests.visible.test_step_02")
    assert starts == {"": ["01", "02"], "tests/visible/test_step_02.py::t0": ["05"]}
    assert start_plan([]) == ({}, {})


def test_death_messages_from_return_codes():
    import signal

    from grading.engine.diagnosis import death_message

    what = "step 05 (step_05.py) was being checked"
    assert death_message(-signal.SIGSEGV, what, 10**6) == f"the process crashed (segmentation fault) while {what}"
    assert death_message(-signal.SIGXFSZ, what, 10**6) == f"the process printed more than 1000 kB of output and was stopped while {what}"
    assert death_message(3, what, 10**6) == f"the process exited (code 3) while {what}"
    assert death_message(0xC0000005, what, 10**6) == f"the process crashed (segmentation fault) while {what}"  # Windows
    assert death_message(None, what, 10**6) == f"the process stopped answering while {what}"


def test_worker_kind_defaults_and_overrides(monkeypatch):
    import sys

    from grading.config import WorkerKindError, worker_kind

    assert worker_kind({}) == ("fork" if sys.platform.startswith("linux") else "spawn")
    assert worker_kind({"GRADING_WORKERS": "Spawn "}) == "spawn"
    assert worker_kind({"GRADING_WORKERS": "fork"}) == "fork"
    with pytest.raises(WorkerKindError, match="fork or spawn"):
        worker_kind({"GRADING_WORKERS": "thread"})
    monkeypatch.delattr(os, "fork")
    with pytest.raises(WorkerKindError, match="cannot fork"):
        worker_kind({"GRADING_WORKERS": "fork"})
