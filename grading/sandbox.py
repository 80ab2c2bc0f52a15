"""Worker processes that run a submission's code on behalf of the judge.

Called by the judge's pytest plugin (``grading.plugin``), never by student
code. A ``Worker`` is forked from the judge after torch and transformers are
imported, so starting one costs milliseconds instead of a second import. The
worker imports one step module of the submission and then answers calls: the
judge names a module-level *probe* function (pickled by name) and its
arguments; the worker runs ``probe(step_module, *args)`` and replies with
plain data encoded by ``torch.save``. The judge decodes replies with
``torch.load(weights_only=True)``, so a reply can only ever be tensors,
numbers, strings, lists and dicts, never an object with code.

What the worker is denied, and why:

* its own process group and a parent-death signal, so that it and anything it
  starts can be killed as one, and never outlive the judge;
* a single torch thread: the judge may already have used OpenMP threads, and
  OpenMP is not fork-safe, so a forked child must not start a thread team;
* every inherited file descriptor but its two pipes, so it cannot write into
  the judge's report stream;
* stdout and stderr go to a capped file, so nothing it prints reaches the
  judge's output (or the GitHub Actions log), and endless printing ends in
  ``SIGXFSZ`` instead of a full disk;
* an address-space cap, so a 40 GB allocation fails inside the worker;
* earlier steps come from ``grading.reference`` instead of the submission, so a
  bug (or an import-time crash) in step 03 cannot cost step 09 its points.
"""

from __future__ import annotations

import ast
import faulthandler
import importlib
import io
import os
import pickle
import resource
import select
import signal
import struct
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .config import STEPS, Limits, Step

_HEADER = struct.Struct(">Q")
_MAX_REPLY = 256 << 20  # bytes; a reply claiming more is refused before it is read
_TIMEOUT_MARGIN = 0.5  # the worker dumps its stack this long before the judge kills it


class SandboxError(Exception):
    """A call into a worker did not return a value. ``str()`` is feedback a
    student can read; ``location`` points into the submission when known."""

    kind = "error"

    def __init__(self, message: str, location: dict | None = None, output: str = ""):
        super().__init__(message)
        self.location = location
        self.output = output


class StudentError(SandboxError):
    """The submission's code raised an exception (at import or in a call)."""

    kind = "exception"

    def __init__(self, message, location=None, output="", error_type="", not_implemented=False):
        super().__init__(message, location, output)
        self.error_type = error_type
        self.not_implemented = not_implemented


class WorkerCrashed(SandboxError):
    """The worker process ended without replying (exit, crash, output cap)."""

    kind = "crash"


class WorkerTimeout(SandboxError):
    """The worker did not reply within the time limit and was killed."""

    kind = "timeout"


# --------------------------------------------------------------------------
# Judge side


@dataclass
class _Process:
    pid: int
    requests: int  # write end, judge -> worker
    replies: int  # read end, worker -> judge


class Worker:
    """One sandboxed process for one step of one submission.

    ``own_stack`` keeps the submission's own earlier steps instead of the
    reference modules (for the labelled integration checks).
    """

    def __init__(self, submission: Path, step: Step, limits: Limits, scratch: Path, own_stack=False):
        self.submission = Path(submission).resolve()
        self.step = step
        self.limits = limits
        self.own_stack = own_stack
        self.output_path = Path(scratch) / f"step_{step.id}{'_own' if own_stack else ''}.out"
        self.tmp_path = Path(scratch) / f"step_{step.id}{'_own' if own_stack else ''}.tmp"
        self.time_used = 0.0
        self._proc: _Process | None = None

    # -- public -------------------------------------------------------------

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
            _write_message(proc.requests, request, deadline)
            reply = _read_message(proc.replies, deadline, _MAX_REPLY)
        except ReplyTooLarge as too_large:
            self._kill()
            raise SandboxError(
                f"the result was too large to send back ({too_large.args[0] / 2**20:.0f} MiB; "
                f"at most {_MAX_REPLY >> 20} MiB) while {self._what}"
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
        return self._decode(reply)

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
                _worker_main(req_r, rep_w, out_fd, self.submission, self.step, self.limits, self.own_stack, self.tmp_path)
            finally:
                os._exit(70)
        os.close(req_r)
        os.close(rep_w)
        os.close(out_fd)
        _LIVE.add(pid)
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
        _LIVE.discard(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader
        except (ProcessLookupError, PermissionError):
            pass
        if not reaped:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
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
        kill_strays()

    def _reap(self) -> int | None:
        """Wait for a worker that closed its pipe; return its wait status."""
        proc = self._proc
        status = None
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
        if status is None:
            return f"the process stopped answering while {self._what}"
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXFSZ:
                return (
                    f"the process printed more than {self.limits.output_bytes // 1000} kB of output "
                    f"and was stopped while {self._what}"
                )
            name = _SIGNAL_NAMES.get(sig, signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig))
            return f"the process crashed ({name}) while {self._what}"
        return f"the process exited (code {os.WEXITSTATUS(status)}) while {self._what}"

    def _timeout_message(self, budget: float) -> str:
        where = self._hang_location_and_output()[0]
        place = f" in {where['function']} ({where['file']}, line {where['line']})" if where else ""
        return f"timed out after {budget:g} s{place} while {self._what}"

    def _hang_location_and_output(self):
        text = _read_text(self.output_path)
        return _location_from_stack_dump(text, self.submission), self._output_excerpt(text)

    def _output_excerpt(self, text: str | None = None) -> str:
        text = _read_text(self.output_path) if text is None else text
        return head_and_tail(text)

    def _decode(self, reply: bytes):
        import torch  # already imported by the judge; local to keep this module light

        try:
            message = torch.load(io.BytesIO(reply), weights_only=True)
            ok = message["ok"]
        except Exception as exc:  # a reply that is not plain data is refused
            raise SandboxError(f"the worker's reply could not be read as plain data ({type(exc).__name__})")
        if ok:
            return message["value"]
        err = message["error"]
        raise StudentError(
            err["message"],
            err.get("location"),
            self._output_excerpt(),
            err.get("type", ""),
            bool(err.get("not_implemented")),
        )


# Workers alive now, and whether this process adopts its descendants' orphans.
_LIVE: set[int] = set()
_ADOPTS_ORPHANS = False


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (PR_SET_CHILD_SUBREAPER),
    so a worker's escaped children (double fork, setsid) can be found and
    ended by ``kill_strays``. Called by the judge and by the runner."""
    global _ADOPTS_ORPHANS
    try:
        import ctypes

        _ADOPTS_ORPHANS = ctypes.CDLL(None).prctl(36, 1) == 0
    except (OSError, AttributeError):
        _ADOPTS_ORPHANS = False
    return _ADOPTS_ORPHANS


def kill_strays(keep: set[int] | None = None):
    """Kill and reap every child of this process but the live workers (and
    ``keep``): orphans a worker left, adopted because we are a subreaper."""
    if not _ADOPTS_ORPHANS:
        return
    keep = _LIVE | (keep or set())
    for _round in range(20):  # a killed orphan's own children are adopted next
        strays = [pid for pid in children_of(os.getpid()) if pid not in keep]
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in strays:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def children_of(parent: int) -> list[int]:
    """Process ids whose parent is ``parent`` (from /proc; Linux)."""
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            pids.append(int(entry))
    return pids


_SIGNAL_NAMES = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGKILL: "killed, perhaps for using too much memory",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating-point exception",
    signal.SIGILL: "illegal instruction",
}


def head_and_tail(text: str, keep: int = 1500) -> str:
    """The start and end of a long output, with the middle cut out."""
    if len(text) <= 2 * keep:
        return text
    cut = len(text) - 2 * keep
    return f"{text[:keep]}\n… [{cut} characters cut] …\n{text[-keep:]}"


def _read_text(path: Path, limit: int = 2_000_000) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit)
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def _location_from_stack_dump(text: str, submission: Path) -> dict | None:
    """The innermost submission frame of the last faulthandler dump."""
    start = text.rfind("most recent call first")
    if start < 0:
        return None
    for line in text[start:].splitlines()[1:]:
        line = line.strip()
        if not line.startswith('File "'):
            if line.startswith("Thread") or not line:
                break
            continue
        try:
            filename = line.split('"')[1]
            rest = line.split('"', 2)[2]  # ', line 12 in forward'
            lineno = int(rest.split("line")[1].split()[0])
        except (IndexError, ValueError):
            continue
        path = Path(filename)
        if _inside(path, submission):
            return {
                "file": path.name,
                "line": lineno,
                "function": qualname_at(path, lineno) or rest.split(" in ")[-1].strip(),
            }
    return None


def qualname_at(path: Path, lineno: int) -> str | None:
    """``Class.method`` for the function that holds ``lineno`` in ``path``."""
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    best = None

    def visit(node, prefix):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                end = getattr(child, "end_lineno", child.lineno)
                if child.lineno <= lineno <= end:
                    if not isinstance(child, ast.ClassDef):
                        best = name
                    visit(child, name + ".")

    visit(tree, "")
    return best


def _inside(path: Path, folder: Path) -> bool:
    if not path.is_absolute():  # "<frozen importlib._bootstrap>", "<string>"
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except (ValueError, OSError):
        return False


def _write_message(fd: int, payload: bytes, deadline: float):
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        _, writable, _ = select.select([], [fd], [], remaining)
        if not writable:
            raise TimeoutError
        written = os.write(fd, data[: 1 << 16])
        data = data[written:]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, remaining_bytes = [], size
    while remaining_bytes:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                raise TimeoutError
        chunk = os.read(fd, min(remaining_bytes, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining_bytes -= len(chunk)
    return b"".join(chunks)


class ReplyTooLarge(Exception):
    pass


def _read_message(fd: int, deadline: float | None, limit: int | None = None) -> bytes:
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    if limit is not None and size > limit:
        raise ReplyTooLarge(size)
    return _read_exactly(fd, size, deadline)


# --------------------------------------------------------------------------
# Worker side: everything below runs in the forked child


def _worker_main(req_r, rep_w, out_fd, submission: Path, step: Step, limits: Limits, own_stack: bool, tmp: Path):
    _isolate_process()
    _keep_only_fds({req_r, rep_w, out_fd})
    _redirect_output(out_fd)
    _apply_limits(limits)
    _lock_down(tmp)

    import torch

    torch.set_num_threads(1)  # OpenMP is not fork-safe: never start a thread team here
    sys.path.insert(0, str(submission))
    os.chdir(submission)
    if not own_stack:
        _install_reference_steps(before=step)
    _hide_answers(step)

    dump_after = max(0.1, limits.call_timeout - _TIMEOUT_MARGIN)
    faulthandler.dump_traceback_later(dump_after, exit=False, file=out_fd)
    try:
        module, import_error = importlib.import_module(step.module), None
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too
        module, import_error = None, _describe(exc, submission, step, during_import=True)
    faulthandler.cancel_dump_traceback_later()

    while True:
        try:
            request = _read_message(req_r, None)
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
                reply = {"ok": False, "error": _describe(exc, submission, step)}
            faulthandler.cancel_dump_traceback_later()
        _send_reply(rep_w, reply, submission, step)


def _send_reply(fd, reply, submission, step):
    import torch

    buffer = io.BytesIO()
    try:
        torch.save(reply, buffer)
    except BaseException as exc:
        buffer = io.BytesIO()
        error = _describe(exc, submission, step)
        error["message"] = f"the result could not be sent back as plain data: {error['message']}"
        torch.save({"ok": False, "error": error}, buffer)
    payload = buffer.getvalue()
    os.write(fd, _HEADER.pack(len(payload)))
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def _isolate_process():
    os.setpgid(0, 0)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the judge
    except (OSError, AttributeError):
        pass
    signal.setitimer(signal.ITIMER_REAL, 0)  # the judge's pytest-timeout alarm is not ours
    for sig in (signal.SIGALRM, signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


def _lock_down(tmp: Path):
    """Take away what could reach the judge: privileges (no setuid gains; as
    root, every capability, so /proc/<judge>/fd and /proc/<judge>/mem stay
    closed) and, where the kernel has Landlock, writing files anywhere but
    ``tmp`` and signalling processes outside the sandbox (the judge)."""
    import ctypes
    import tempfile

    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    if not sys.platform.startswith("linux"):
        return  # prctl, capabilities and Landlock are Linux's; elsewhere (a student's Mac) only the rest applies
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid binary (sudo) gives power back
    if os.geteuid() == 0:
        _drop_capabilities(libc)
    if os.environ.get("GRADING_LANDLOCK", "1") != "0":
        _landlock(libc, tmp)


def _drop_capabilities(libc):
    """Root keeps its uid (to read the submission) but loses every capability."""
    import ctypes

    libc.prctl(28, 0x2F, 0, 0, 0)  # PR_SET_SECUREBITS: NOROOT, NO_SETUID_FIXUP (locked): exec gives none back
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all zero
    libc.capset(header, data)


_LANDLOCK_WRITES = (1 << 1) | (1 << 4) | (1 << 5) | sum(1 << bit for bit in range(6, 13))  # write, remove, make
_LANDLOCK_REFER, _LANDLOCK_TRUNCATE, _LANDLOCK_SCOPE_SIGNAL = 1 << 13, 1 << 14, 1 << 1


def _landlock(libc, tmp: Path) -> bool:
    """Landlock (Linux ≥ 5.13): writes only under ``tmp`` (and /dev/null);
    with ABI ≥ 6 also no signals to processes outside the sandbox."""
    import ctypes

    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # landlock_create_ruleset(VERSION)
    if abi < 1:
        return False
    handled = _LANDLOCK_WRITES | (_LANDLOCK_REFER if abi >= 2 else 0) | (_LANDLOCK_TRUNCATE if abi >= 3 else 0)
    scoped = _LANDLOCK_SCOPE_SIGNAL if abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(handled, 0, scoped)
    size = 24 if abi >= 6 else 8
    ruleset = syscall(444, attr, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        for path, access in ((tmp, handled), ("/dev/null", (1 << 1) | (_LANDLOCK_TRUNCATE if abi >= 3 else 0))):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            rule = struct.pack("=Qi", access if os.path.isdir(path) else access & ((1 << 1) | _LANDLOCK_TRUNCATE), fd)
            buffer = ctypes.create_string_buffer(rule, len(rule))
            syscall(445, ctypes.c_int(ruleset), ctypes.c_int(1), buffer, ctypes.c_uint32(0))  # PATH_BENEATH
            os.close(fd)
        return syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0  # landlock_restrict_self
    finally:
        os.close(ruleset)


def _keep_only_fds(keep: set[int]):
    keep = keep | {0, 1, 2}
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = range(3, 1024)
    for fd in open_fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _redirect_output(out_fd: int):
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    # The judge's sys.stdout/stderr are pytest's capture objects over files
    # this process no longer has: print() must reach fds 1 and 2 instead.
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), "utf-8", "replace", line_buffering=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), "utf-8", "backslashreplace", line_buffering=True)
    faulthandler.enable(file=out_fd)  # a segfault's Python stack lands in the output


def _apply_limits(limits: Limits):
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        with open("/proc/self/status") as fh:
            vm_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmSize"))
        cap = (vm_kb << 10) + (limits.memory_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (OSError, StopIteration, ValueError):
        pass


def preload_references(before: Step):
    """Import, in the judge, the reference modules a worker for ``before``
    will use (and transformers' GPT-2 code behind them), so each forked worker
    inherits them instead of importing them again."""
    loaded = False
    for earlier in STEPS:
        if earlier.id >= before.id:
            break
        try:
            importlib.import_module(f"grading.reference.{earlier.module}")
            loaded = True
        except ModuleNotFoundError:
            pass
    if loaded and before.id >= "09":  # blocks and up build the step 04/07 references on transformers
        importlib.import_module("transformers.models.gpt2.modeling_gpt2")


def _install_reference_steps(before: Step):
    for earlier in STEPS:
        if earlier.id >= before.id:
            break
        try:
            sys.modules[earlier.module] = importlib.import_module(f"grading.reference.{earlier.module}")
        except ModuleNotFoundError:
            pass  # no reference for that step yet (the student template): the submission's own is used


def _hide_answers(step: Step):
    """The references of this step and later ones, and any solutions folder
    on the path, hold answers: importing them fails in a worker."""
    for later in STEPS:
        if later.id >= step.id:
            sys.modules[f"grading.reference.{later.module}"] = None
    sys.modules["solutions"] = None


def _describe(exc: BaseException, submission: Path, step: Step, during_import=False) -> dict:
    """A plain-data account of an exception: type, message, submission frame."""
    type_name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:
        text = "<the exception's message could not be read>"
    if len(text) > 2000:
        text = text[:2000] + " …"
    location = None
    if isinstance(exc, SyntaxError) and exc.filename and _inside(Path(exc.filename), submission):
        location = {"file": Path(exc.filename).name, "line": exc.lineno or 0, "function": "<module>"}
        text = f"{exc.msg}: {(exc.text or '').strip()}"
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if _inside(Path(frame.filename), submission):
                location = {
                    "file": Path(frame.filename).name,
                    "line": frame.lineno or 0,
                    "function": qualname_at(Path(frame.filename), frame.lineno or 0) or frame.name,
                }
                break
    missing_step = isinstance(exc, ModuleNotFoundError) and exc.name == step.module
    if missing_step:
        message = f"{step.filename} was not found in the submission folder"
    elif isinstance(exc, SystemExit):
        message = f"your code called sys.exit({text})" + (" while being imported" if during_import else "")
    else:
        message = f"{type_name}: {text}" if text else type_name
        if during_import:
            message = f"importing {step.filename} raised {message}"
    where = f" ({location['file']}, line {location['line']})" if location else ""
    return {
        "type": type_name,
        "message": message + where,
        "location": location,
        "not_implemented": isinstance(exc, NotImplementedError),
    }
