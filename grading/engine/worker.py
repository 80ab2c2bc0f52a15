"""Worker processes that run a submission's code on behalf of the judge.

Called by the judge's pytest plugin (``grading.engine.plugin``), never by
student code. A ``Worker`` is one process for one step, of one of two kinds
(``grading.config.worker_kind``):

* **fork** (Linux): a copy of the judge, made after torch and transformers
  are imported, so starting one costs milliseconds instead of a second import;
* **spawn** (Windows, and macOS, where forking after torch is unsafe): a
  fresh ``python`` whose standard input and output are its two pipes and
  whose standard error is its capped output file. It imports torch, the
  step's test modules (so that probes, pickled by name, can be found) and the
  reference prerequisites itself, which takes seconds, so the plugin starts
  it ahead of time (``start``) while earlier checks run; the first ones even
  before the judge has imported torch (``spawn_interpreter``: the
  interpreter imports torch while it waits to learn its step).

Either way the worker confines itself (``confinement``), puts the reference
prerequisites in place (``prerequisites``), reports which confinement took
effect, and then answers calls: the judge names a module-level *probe*
function (pickled by name) and its arguments; the worker imports the step
module of the submission at the first call, runs ``probe(step_module, *args)``
and replies with plain data (``protocol``). Both kinds run the same
``worker_main``, so they give the same grades. From its lock on, the worker
reports what the submission's code reaches (``audit``: the grader's files,
transformers, tampering) as notes on the reply pipe; ``Worker.audit``
collects them for the judge.
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import GRADER_ROOT, Limits, Step, worker_kind
from . import audit, confinement, diagnosis, prerequisites, protocol, reaping
from .protocol import ReplyTooLarge, SandboxError, WorkerCrashed, WorkerTimeout

_TIMEOUT_MARGIN = 0.5  # the worker dumps its stack this long before the judge kills it
_HELLO_LIMIT = 1 << 20  # bytes: the worker's first message only lists what confined it

# What a spawned worker runs: the grader's root first on its path (never the
# current folder), then the same worker_main a forked one runs.
_SPAWNED = (
    "import sys; sys.path[:] = [{root!r}] + [p for p in sys.path if p not in ('', '.')]; "
    "from grading.engine.worker import spawned_main; spawned_main()"
)


@dataclass
class Spawned:
    """A fresh interpreter, started before it knows its step: it imports
    torch meanwhile, then waits for its setup (``Worker.start``)."""

    popen: subprocess.Popen
    output_path: Path

    def close(self):
        _end(self.popen)


def spawn_interpreter(output_path: Path) -> Spawned:
    """Start a fresh ``python`` for some step's worker: stdin and stdout its
    pipes (on every platform, Windows included, which cannot pass other
    descriptors), stderr the capped output file ``output_path``."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    out_fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    options = {"process_group": 0} if os.name == "posix" else {}  # its own group from the start: killable as one
    try:
        popen = subprocess.Popen(
            [sys.executable, "-s", "-c", _SPAWNED.format(root=str(GRADER_ROOT))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out_fd, bufsize=0,
            cwd=output_path.parent, env=os.environ.copy(), close_fds=True, **options,
        )  # fmt: skip
    finally:
        os.close(out_fd)
    protocol.binary_pipes(popen.stdin.fileno(), popen.stdout.fileno())
    reaping.LIVE.add(popen.pid)
    return Spawned(popen, output_path)


@dataclass
class _Process:
    pid: int
    requests: int  # write end, judge -> worker
    replies: int  # read end, worker -> judge
    popen: subprocess.Popen | None = None  # a spawned worker; None for a forked one


class _OutputFlood(Exception):
    """The worker's output file outgrew the cap (where no rlimit stops it)."""


class Worker:
    """One sandboxed process for one step of one submission.

    ``own_stack`` keeps the submission's own earlier steps instead of the
    reference overlay (for a check's twin on the student's own steps). ``test_modules``
    name the modules whose probes the worker will be sent (a spawned worker
    imports them before any submission code). ``on_ready(worker)`` is called
    once the worker has confined itself; ``confinement`` then lists what took
    effect.
    """

    def __init__(self, submission: Path, step: Step, limits: Limits, scratch: Path, own_stack=False, *,
                 kind: str | None = None, test_modules=(), on_ready=None):  # fmt: skip
        self.submission = Path(submission).resolve()
        self.step = step
        self.limits = limits
        self.own_stack = own_stack
        self.kind = kind or worker_kind()
        self.test_modules = tuple(test_modules)
        self.on_ready = on_ready
        name = f"step_{step.id}{'_own' if own_stack else ''}"
        self.output_path = Path(scratch) / f"{name}.out"
        self.tmp_path = Path(scratch) / f"{name}.tmp"
        self.time_used = 0.0
        self.confinement: list[str] | None = None
        self.audit = audit.Listener(step)  # what the worker reported: integrity flags
        self._proc: _Process | None = None
        self._start_failed: str | None = None  # why it could not start: not tried again
        self._import_death: tuple | None = None  # how a process ended importing the step: every later call fails so

    def start(self, spawned: Spawned | None = None):
        """Start the process now without waiting for it: a spawned worker
        imports torch meanwhile (``spawned``: in an interpreter started
        already). A forked one starts at its first call."""
        if self._proc is None:
            self.confinement = None  # a new process: its hello (what confined it) comes before any reply
            self._proc = self._spawn(spawned) if self.kind == "spawn" else self._fork()
        elif spawned is not None:
            spawned.close()

    def ready(self):
        """Start the worker if need be and wait until it is confined and
        ready (a spawned one has imported torch); SandboxError if it cannot."""
        self._ready()

    def call(self, probe, *args, **kwargs):
        """Run ``probe(step_module, *args, **kwargs)`` in the worker and
        return its (data-only) result. A process that ended while importing
        the step (before it said it had) is not started again: the import
        would end the next one too, so every later call fails the same way
        at once (a spawned process costs seconds to start)."""
        if self._import_death is not None:
            raise WorkerCrashed(*self._import_death)
        if self.time_used >= self.limits.step_timeout:
            raise WorkerTimeout(
                f"step {self.step.id} used up its {self.limits.step_timeout:g} s of running time, "
                "so its remaining checks were not run"
            )
        request = protocol.encode_request((probe, args, kwargs))
        proc = self._ready()  # starting is not charged to the step: no submission code has run yet
        budget = min(self.limits.call_timeout, self.limits.step_timeout - self.time_used)
        started = time.monotonic()
        watch = None if "output-cap" in (self.confinement or ()) else self._watch_output
        reaping.settle()  # the steps before this one have left nothing running
        try:
            deadline = started + budget
            protocol.write_message(proc.requests, request, deadline)
            reply = protocol.read_message(proc.replies, deadline, protocol.MAX_REPLY, watch=watch, notes=self.audit.take)
            self.audit.replied()
        except ReplyTooLarge as too_large:
            self._kill()
            raise SandboxError(
                f"the result was too large to send back ({too_large.args[0] / 2**20:.0f} MiB; "
                f"at most {protocol.MAX_REPLY >> 20} MiB) while {self._what}",
                kind="too_large",
            )
        except _OutputFlood:
            self._kill()
            raise WorkerCrashed(diagnosis.output_cap_message(self._what, self.limits.output_bytes), None, self._output_excerpt())
        except TimeoutError:
            status = self._exited()
            if status is not None:  # it died, but a child it left holds the pipe open
                raise WorkerCrashed(self._death_message(status), None, self._output_excerpt())
            self._kill()
            raise WorkerTimeout(self._timeout_message(budget), *self._hang_location_and_output())
        except (EOFError, OSError):  # the pipe closed: the worker ended
            status = self._reap()
            death = (self._death_message(status), None, self._output_excerpt())
            if not self.audit.imported:  # it ended importing the step: so would every new process, so no more are started
                self._import_death = death
            raise WorkerCrashed(*death)
        finally:
            self.time_used += time.monotonic() - started
        return protocol.decode_reply(reply, self._output_excerpt())

    def close(self):
        """End the worker, its step done. A forked worker is not waited for:
        the kernel frees its memory while the judge goes on, and
        ``reaping.settle`` reaps it, with any orphan it left, before more
        submission code runs."""
        self._kill(wait=False)

    # -- starting ------------------------------------------------------------

    def _ready(self) -> _Process:
        """The started worker, once it has said it is confined and ready."""
        if self._start_failed is not None:
            raise SandboxError(self._start_failed, kind="internal")
        self.start()
        proc = self._proc
        if self.confinement is not None:
            return proc
        try:
            hello = protocol.read_message(proc.replies, time.monotonic() + self.limits.start_timeout, _HELLO_LIMIT, notes=self.audit.take)
            facts = protocol.decode_reply(hello, "")
            self.confinement = [str(name) for name in facts["confinement"]]
        except TimeoutError:
            self._kill()
            raise SandboxError(self._start_failure(f"it did not start within {self.limits.start_timeout:g} s"), kind="internal")
        except (EOFError, OSError, ReplyTooLarge, SandboxError, KeyError, TypeError):
            status = self._reap()
            reason = "it ended" if status is None else diagnosis.death_message(status, "starting", self.limits.output_bytes)
            raise SandboxError(self._start_failure(reason), output=self._output_excerpt(), kind="internal")
        if self.on_ready is not None:
            self.on_ready(self)
        return proc

    def _start_failure(self, reason: str) -> str:
        self._start_failed = (
            f"the grader could not start the process that runs step {self.step.id} ({reason}) "
            "before any of your code ran; please tell your instructor"
        )
        return self._start_failed

    def _prepare_files(self) -> int:  # a forked worker's output file and temp folder
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path.mkdir(exist_ok=True)
        return os.open(self.output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)

    def _setup(self) -> dict:
        return dict(submission=self.submission, step=self.step, limits=self.limits, own_stack=self.own_stack,
                    tmp=self.tmp_path, preload=self.test_modules, judge_pid=os.getpid())  # fmt: skip

    def _fork(self) -> _Process:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_fd = self._prepare_files()
        setup = self._setup()
        audit.prepare(self.submission)  # what every forked worker would otherwise work out alone
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker; never returns
            try:
                os.close(req_w)
                os.close(rep_r)
                worker_main(req_r, rep_w, out_fd, **setup)
            finally:
                os._exit(70)
        os.close(req_r)
        os.close(rep_w)
        os.close(out_fd)
        reaping.LIVE.add(pid)
        return _Process(pid, req_w, rep_r)

    def _spawn(self, spawned: Spawned | None) -> _Process:
        """A fresh interpreter (``spawn_interpreter``); its setup is its first request."""
        spawned = spawned or spawn_interpreter(self.output_path)
        self.output_path = spawned.output_path
        self.tmp_path.mkdir(parents=True, exist_ok=True)
        popen = spawned.popen
        proc = _Process(popen.pid, popen.stdin.fileno(), popen.stdout.fileno(), popen)
        setup = pickle.dumps(self._setup(), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            protocol.write_message(proc.requests, setup, time.monotonic() + self.limits.start_timeout)
        except (OSError, TimeoutError):
            pass  # it died at once: _ready says so
        return proc

    # -- process management --------------------------------------------------

    def _exited(self) -> int | None:
        """The return code (negative: killed by that signal) if the worker
        has already ended (then it is cleaned up), else None."""
        proc = self._proc
        if proc is None:
            return None
        if proc.popen is not None:
            code = proc.popen.poll()
        else:
            try:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            code = os.waitstatus_to_exitcode(status) if pid else None
        if code is None:
            return None
        self._kill(reaped=True)
        return code

    def _kill(self, reaped: bool = False, wait: bool = True):
        """Kill the worker, its process group and anything it left behind
        (``wait=False``: a forked worker is reaped later, by ``reaping.settle``)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        reaping.LIVE.discard(proc.pid)
        if proc.popen is not None:
            _end(proc.popen)
        else:
            _signal(os.killpg, proc.pid)  # the group outlives its leader
            if not reaped:
                _signal(os.kill, proc.pid)
            for fd in (proc.requests, proc.replies):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if not wait and not reaped:
                reaping.DYING.add(proc.pid)
                return
            if not reaped:
                try:
                    os.waitpid(proc.pid, 0)
                except ChildProcessError:
                    pass
        reaping.kill_strays()

    def _reap(self) -> int | None:
        """Wait for a worker that closed its pipe; return its return code."""
        if self._proc is not None:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                code = self._exited()
                if code is not None:
                    return code
                time.sleep(0.01)
        self._kill()
        return None

    def _watch_output(self):
        """Where no file-size limit stops a flood of output (Windows), the
        judge stops it: called while it waits for a reply."""
        try:
            size = os.path.getsize(self.output_path)
        except OSError:
            return
        if size > self.limits.output_bytes:
            raise _OutputFlood

    # -- messages ------------------------------------------------------------

    @property
    def _what(self) -> str:
        return f"step {self.step.id} ({self.step.filename}) was being checked"

    def _death_message(self, code: int | None) -> str:
        return diagnosis.death_message(code, self._what, self.limits.output_bytes)

    def _timeout_message(self, budget: float) -> str:
        where = self._hang_location_and_output()[0]
        place = f" in {where['function']} ({where['file']}, line {where['line']})" if where else ""
        return f"timed out after {budget:g} s{place} while {self._what}"

    def _hang_location_and_output(self):
        text = diagnosis.read_text(self.output_path)
        return diagnosis.location_from_stack_dump(text, self.submission), diagnosis.head_and_tail(text)

    def _output_excerpt(self) -> str:
        return diagnosis.head_and_tail(diagnosis.read_text(self.output_path))


def _signal(send, pid: int):
    try:
        send(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _end(popen: subprocess.Popen):
    """Kill a spawned interpreter (and, on Windows, its tree), close its pipes, reap it."""
    reaping.LIVE.discard(popen.pid)
    if os.name == "nt":
        _kill_tree_windows(popen.pid)
    else:
        _signal(os.killpg, popen.pid)  # the group outlives its leader
    if popen.poll() is None:
        popen.kill()
    for pipe in (popen.stdin, popen.stdout):
        try:
            pipe.close()
        except OSError:
            pass
    popen.wait()


def _kill_tree_windows(pid: int):
    """Windows has no process groups to signal: end the worker's whole tree."""
    subprocess.run(["taskkill", "/F", "/T", "/PID", str(pid)], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip


def start_plan(items: list[tuple[str, str, str]]) -> tuple[dict[str, tuple[str, ...]], dict[str, list[str]]]:
    """When to start workers, from the collected checks in run order
    (``(nodeid, step id, test module name)``).

    Returns each step's test modules (what its workers import for the probes)
    and, for the first check of each step, the steps whose worker to start
    then: the next step's, so that it gets ready (a spawned one imports
    torch) while this step is checked. The first step's and the second's
    start at once (key ``""``). Workers on the student's own earlier steps
    start when first used.
    """
    modules: dict[str, set[str]] = {}
    first: dict[str, str] = {}
    for nodeid, step, module in items:
        if step:
            first.setdefault(step, nodeid)
            modules.setdefault(step, set()).update([module] if module else [])
    order = list(first)
    starts: dict[str, list[str]] = {"": order[:2]} if order else {}
    for step, after in zip(order[1:], order[2:]):
        starts[first[step]] = [after]
    return {s: tuple(sorted(m)) for s, m in modules.items()}, starts


# --------------------------------------------------------------------------
# Worker side: everything below runs in the worker process


def spawned_main():
    """A spawned worker's entry: its stdin and stdout are the pipes, its
    stderr the output file. It imports torch while the judge decides which
    step it serves; the first request is its setup."""
    req_r, rep_w, out_fd = os.dup(0), os.dup(1), os.dup(2)
    os.dup2(out_fd, 1)  # anything printed from here on lands in the output, never among the replies
    protocol.binary_pipes(req_r, rep_w)
    gc.disable()  # until its imports are done (worker_main): collections would cost a fifth of them
    import torch

    torch.set_num_threads(1)
    try:
        setup = pickle.loads(protocol.read_message(req_r, None))  # from the judge: trusted
    except (EOFError, OSError):
        os._exit(0)
    try:
        worker_main(req_r, rep_w, out_fd, **setup)
    finally:
        os._exit(70)


def import_for_probes(modules):
    """Import the modules the judge's probes come from, and what each says
    torch imports lazily when they run (``WORKER_IMPORTS``: the meta device
    brings in torch._dynamo, seconds): a forked worker has it all from the
    judge already, and a spawned one must not pay for it inside a call's time."""
    for name in modules:
        for lazy in getattr(importlib.import_module(name), "WORKER_IMPORTS", ()):
            importlib.import_module(lazy)


def worker_main(req_r, rep_w, out_fd, submission: Path, step: Step, limits: Limits, own_stack: bool, tmp: Path,
                preload=(), judge_pid: int | None = None):  # fmt: skip
    applied = confinement.isolate_process(judge_pid)
    applied += confinement.keep_only_fds({req_r, rep_w, out_fd})
    applied += confinement.redirect_output(out_fd)

    import torch

    torch.set_num_threads(1)  # OpenMP is not fork-safe: never start a thread team here (and the same numbers either way)
    # What a forked worker has from the judge, a spawned one imports now,
    # before the submission is on the path: the modules its probes come from
    # (they arrive pickled by name), the shared probes they import when
    # called, and the reference prerequisites: after the lock below, the
    # grader's files cannot be read.
    import_for_probes((*preload, "grading.engine.probes"))
    if not own_stack:
        prerequisites.preload_references(step)
    gc.freeze()  # what it imported is never walked by a collection inside a call's time
    gc.enable()
    applied += confinement.apply_limits(limits)
    applied += confinement.lock_down(tmp, submission)  # from here on, the grader's files cannot be read
    sys.path.insert(0, str(submission))
    os.chdir(submission)
    if not own_stack:
        prerequisites.install_reference_steps(before=step)
    prerequisites.hide_answers(step)
    recorder = audit.install(rep_w, submission, step, tmp)  # from here on, what the code reaches is reported

    def describe(exc, during_import=False):
        return diagnosis.describe_exception(exc, submission, step, during_import=during_import)

    recorder.send_reply(protocol.encode_reply({"ok": True, "value": {"confinement": applied}}, describe))

    dump_after = max(0.1, limits.call_timeout - _TIMEOUT_MARGIN)
    module = import_error = None
    imported = False
    while True:
        try:
            request = protocol.read_message(req_r, None)
        except (EOFError, OSError):
            os._exit(0)
        probe, args, kwargs = recorder.loads(request)  # from the judge: trusted (pickle, the grader's modules at hand)
        if not imported:  # the submission's first code runs now, inside the first call's time
            imported = True
            faulthandler.dump_traceback_later(dump_after, exit=False, file=out_fd)
            try:
                module = importlib.import_module(step.module)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt too
                import_error = describe(exc, during_import=True)
            faulthandler.cancel_dump_traceback_later()
            recorder.after_import()
            recorder.note({"imported": True}, always=True)  # the process outlived its step's import
        if import_error is not None:
            reply = {"ok": False, "error": import_error}
        else:
            faulthandler.dump_traceback_later(dump_after, exit=False, file=out_fd)
            try:
                reply = {"ok": True, "value": probe(module, *args, **kwargs)}
            except BaseException as exc:
                reply = {"ok": False, "error": describe(exc)}
            faulthandler.cancel_dump_traceback_later()
        recorder.after_call()  # its heartbeat precedes the reply
        recorder.send_reply(protocol.encode_reply(reply, describe))
