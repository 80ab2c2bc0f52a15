"""Worker processes that run a submission's code on behalf of the judge.

Called by the judge's pytest plugin (``grading.engine.plugin``), never by
student code. A ``Worker`` is forked from the judge after torch and
transformers are imported, so starting one costs milliseconds instead of a
second import. The worker confines itself (``confinement``), puts the
reference prerequisites in place (``prerequisites``), imports one step module
of the submission and then answers calls: the judge names a module-level
*probe* function (pickled by name) and its arguments; the worker runs
``probe(step_module, *args)`` and replies with plain data (``protocol``).
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import pickle
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import Limits, Step
from . import confinement, diagnosis, prerequisites, protocol, reaping
from .protocol import ReplyTooLarge, SandboxError, WorkerCrashed, WorkerTimeout

_TIMEOUT_MARGIN = 0.5  # the worker dumps its stack this long before the judge kills it


@dataclass
class _Process:
    pid: int
    requests: int  # write end, judge -> worker
    replies: int  # read end, worker -> judge


class Worker:
    """One sandboxed process for one step of one submission.

    ``own_stack`` keeps the submission's own earlier steps instead of the
    reference overlay (for a check's twin on the student's own steps).
    """

    def __init__(self, submission: Path, step: Step, limits: Limits, scratch: Path, own_stack=False):
        self.submission = Path(submission).resolve()
        self.step = step
        self.limits = limits
        self.own_stack = own_stack
        name = f"step_{step.id}{'_own' if own_stack else ''}"
        self.output_path = Path(scratch) / f"{name}.out"
        self.tmp_path = Path(scratch) / f"{name}.tmp"
        self.time_used = 0.0
        self._proc: _Process | None = None

    def call(self, probe, *args, **kwargs):
        """Run ``probe(step_module, *args, **kwargs)`` in the worker and
        return its (data-only) result."""
        if self.time_used >= self.limits.step_timeout:
            raise WorkerTimeout(
                f"step {self.step.id} used up its {self.limits.step_timeout:g} s of running time, "
                "so its remaining checks were not run"
            )
        request = pickle.dumps((probe, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        budget = min(self.limits.call_timeout, self.limits.step_timeout - self.time_used)
        started = time.monotonic()
        try:
            proc = self._ensure_started()
            deadline = started + budget
            protocol.write_message(proc.requests, request, deadline)
            reply = protocol.read_message(proc.replies, deadline, protocol.MAX_REPLY)
        except ReplyTooLarge as too_large:
            self._kill()
            raise SandboxError(
                f"the result was too large to send back ({too_large.args[0] / 2**20:.0f} MiB; "
                f"at most {protocol.MAX_REPLY >> 20} MiB) while {self._what}",
                kind="too_large",
            )
        except TimeoutError:
            status = self._exited()
            if status is not None:  # it died, but a child it left holds the pipe open
                raise WorkerCrashed(self._death_message(status), None, self._output_excerpt())
            self._kill()
            raise WorkerTimeout(self._timeout_message(budget), *self._hang_location_and_output())
        except (EOFError, BrokenPipeError):
            status = self._reap()
            raise WorkerCrashed(self._death_message(status), None, self._output_excerpt())
        finally:
            self.time_used += time.monotonic() - started
        return protocol.decode_reply(reply, self._output_excerpt())

    def close(self):
        self._kill()

    # -- process management --------------------------------------------------

    def _ensure_started(self) -> _Process:
        if self._proc is None:
            self._proc = self._fork()
        return self._proc

    def _fork(self) -> _Process:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path.mkdir(exist_ok=True)
        out_fd = os.open(self.output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker; never returns
            try:
                os.close(req_w)
                os.close(rep_r)
                worker_main(req_r, rep_w, out_fd, self.submission, self.step, self.limits, self.own_stack, self.tmp_path)
            finally:
                os._exit(70)
        os.close(req_r)
        os.close(rep_w)
        os.close(out_fd)
        reaping.LIVE.add(pid)
        return _Process(pid, req_w, rep_r)

    def _exited(self) -> int | None:
        """The wait status if the worker has already ended (then it is
        cleaned up), else None."""
        if self._proc is None:
            return None
        try:
            pid, status = os.waitpid(self._proc.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if not pid:
            return None
        self._kill(reaped=True)
        return status

    def _kill(self, reaped: bool = False):
        """Kill the worker, its process group and anything it left behind."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        reaping.LIVE.discard(proc.pid)
        _signal(os.killpg, proc.pid)  # the group outlives its leader
        if not reaped:
            _signal(os.kill, proc.pid)
        for fd in (proc.requests, proc.replies):
            try:
                os.close(fd)
            except OSError:
                pass
        if not reaped:
            try:
                os.waitpid(proc.pid, 0)
            except ChildProcessError:
                pass
        reaping.kill_strays()

    def _reap(self) -> int | None:
        """Wait for a worker that closed its pipe; return its wait status."""
        proc = self._proc
        if proc is not None:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
                if pid:
                    self._kill(reaped=True)
                    return status
                time.sleep(0.01)
        self._kill()
        return None

    # -- messages ------------------------------------------------------------

    @property
    def _what(self) -> str:
        return f"step {self.step.id} ({self.step.filename}) was being checked"

    def _death_message(self, status: int | None) -> str:
        return diagnosis.death_message(status, self._what, self.limits.output_bytes)

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


# --------------------------------------------------------------------------
# Worker side: everything below runs in the forked child


def worker_main(req_r, rep_w, out_fd, submission: Path, step: Step, limits: Limits, own_stack: bool, tmp: Path):
    confinement.isolate_process()
    confinement.keep_only_fds({req_r, rep_w, out_fd})
    confinement.redirect_output(out_fd)
    confinement.apply_limits(limits)
    confinement.lock_down(tmp)

    import torch

    torch.set_num_threads(1)  # OpenMP is not fork-safe: never start a thread team here
    sys.path.insert(0, str(submission))
    os.chdir(submission)
    if not own_stack:
        prerequisites.install_reference_steps(before=step)
    prerequisites.hide_answers(step)

    def describe(exc, during_import=False):
        return diagnosis.describe_exception(exc, submission, step, during_import=during_import)

    dump_after = max(0.1, limits.call_timeout - _TIMEOUT_MARGIN)
    faulthandler.dump_traceback_later(dump_after, exit=False, file=out_fd)
    try:
        module, import_error = importlib.import_module(step.module), None
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too
        module, import_error = None, describe(exc, during_import=True)
    faulthandler.cancel_dump_traceback_later()

    while True:
        try:
            request = protocol.read_message(req_r, None)
        except (EOFError, OSError):
            os._exit(0)
        probe, args, kwargs = pickle.loads(request)  # from the judge: trusted
        if import_error is not None:
            reply = {"ok": False, "error": import_error}
        else:
            faulthandler.dump_traceback_later(dump_after, exit=False, file=out_fd)
            try:
                reply = {"ok": True, "value": probe(module, *args, **kwargs)}
            except BaseException as exc:
                reply = {"ok": False, "error": describe(exc)}
            faulthandler.cancel_dump_traceback_later()
        protocol.send_reply(rep_w, protocol.encode_reply(reply, describe))
