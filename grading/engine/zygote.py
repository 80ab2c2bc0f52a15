"""A warm judge for many submissions: one process that has imported torch,
transformers and pytest once, and forks a fresh judge for each submission.

Used by ``grading.engine.judge.run_judge`` when it is given a ``Zygote``:
the regrade, the release's verification and the project's own suite grade
many submissions, and a fresh ``python -m pytest`` for each would pay the
same seconds of imports again and again. Each forked judge is exactly the
judge ``run`` starts (the same pytest arguments, environment and working
folder), in a session of its own, with its own workers; only the imports
are shared. A judge that a submission kills or hangs costs only that
submission: the zygote is not its session, and grades the next one.

Besides the imports, the zygote computes the hidden tests' reference data
(``checks.reference_fixture``) once for every judge, single-threaded, so
no OpenMP thread team exists when it forks (OpenMP is not fork-safe), and
it collects the checks once: the first judge's pytest session is kept here
(``grading.engine.collected_session``), and each later judge with the same
arguments is forked from it where pytest would start running the checks. It
adopts the orphans its judges leave (it is a subreaper) and ends them when
the judge has ended.

Protocol, over a Unix socket pair (one message a send): the client sends
one JSON request per judge with two file descriptors (the results pipe and the log file); the
zygote answers ``{"id", "pid"}`` once the judge is forked and
``{"id", "status"}`` (the wait status) once it has ended.

    python -m grading.engine.zygote --socket FD     (started by ``Zygote``)
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from ..config import WorkerKindError, worker_kind
from . import reaping

_MAX_REQUEST = 1 << 20  # bytes


class ZygoteDied(Exception):
    """The warm process is gone; the client starts another on the next launch."""


# --------------------------------------------------------------------------
# Client side: in the process that runs the judges (regrade, release, suite)


class Zygote:
    """The warm process for one grader tree. ``launch`` forks a judge from it.
    Thread-safe: a regrade with ``--jobs 2`` launches two judges at once."""

    def __init__(self, grader_root: Path, env: dict[str, str]):
        self.grader_root = Path(grader_root)
        self.env = dict(env)
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._waiting: dict[int, dict] = {}  # request id -> {"pid", "status", "event"}
        self._next_id = 0

    def __enter__(self) -> "Zygote":
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with self._lock:
            self._stop_process()

    def start(self):
        """Start the warm process now (else at the first launch), so its
        seconds of imports overlap whatever the caller does meanwhile."""
        with self._lock:
            self._ensure_started()

    def launch(self, argv: list[str], env: dict[str, str], results_fd: int, log_fd: int) -> "ForkedJudge":
        """Fork a judge running ``pytest.main(argv)``; ``{results_fd}`` in
        ``argv`` is replaced by the number the judge holds the pipe at."""
        with self._lock:
            self._ensure_started()
            self._next_id += 1
            request_id = self._next_id
            waiter = {"pid": None, "status": None, "event": threading.Event(), "forked": threading.Event()}
            self._waiting[request_id] = waiter
            message = json.dumps({"id": request_id, "argv": argv, "env": env, "cwd": str(self.grader_root)}).encode()
            try:
                socket.send_fds(self._socket, [message], [results_fd, log_fd])
            except OSError as error:
                self._stop_process()
                raise ZygoteDied(f"the warm grader could not be reached: {error}") from error
        if not waiter["forked"].wait(60) or waiter["pid"] is None:
            raise ZygoteDied("the warm grader did not start a judge")
        return ForkedJudge(self, request_id, waiter)

    # -- the process -------------------------------------------------------

    def _ensure_started(self):
        if self._process is not None and self._process.poll() is None:
            return
        self._stop_process()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one message a send
        self._process = subprocess.Popen(
            [sys.executable, "-m", "grading.engine.zygote", "--socket", str(theirs.fileno())],
            cwd=self.grader_root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
        )
        theirs.close()
        self._socket = mine
        reaping.LIVE.add(self._process.pid)  # never one of the strays this process ends
        threading.Thread(target=self._read_events, args=(mine, self._process), daemon=True).start()

    def _stop_process(self):
        process, self._process = self._process, None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if process is not None:
            reaping.LIVE.discard(process.pid)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
        self._fail_waiting()

    def _fail_waiting(self):
        for waiter in list(self._waiting.values()):
            waiter["forked"].set()
            waiter["event"].set()
        self._waiting.clear()

    def _read_events(self, sock: socket.socket, process: subprocess.Popen):
        stream = sock.makefile("r", encoding="utf-8")
        try:
            for line in stream:
                event = json.loads(line)
                waiter = self._waiting.get(event.get("id"))
                if waiter is None:
                    continue
                if "pid" in event:
                    waiter["pid"] = event["pid"]
                    waiter["forked"].set()
                if "status" in event:
                    waiter["status"] = event["status"]
                    waiter["event"].set()
                    self._waiting.pop(event["id"], None)
        except (OSError, ValueError):
            pass
        with self._lock:
            if self._process is process:  # it died on its own: the next launch starts another
                self._stop_process()


class ForkedJudge:
    """A judge forked by the zygote: what ``run_judge`` needs of a process."""

    def __init__(self, zygote: Zygote, request_id: int, waiter: dict):
        self.zygote, self.request_id, self._waiter = zygote, request_id, waiter
        self.pid: int = waiter["pid"]

    def wait(self, timeout: float | None = None) -> int | None:
        """The judge's exit code (negative: killed by that signal), like
        ``Popen.wait``; raises ``subprocess.TimeoutExpired`` after ``timeout``."""
        if not self._waiter["event"].wait(timeout):
            raise subprocess.TimeoutExpired("judge", timeout)
        status = self._waiter["status"]
        return None if status is None else os.waitstatus_to_exitcode(status)


# --------------------------------------------------------------------------
# Server side: the warm process


def _warm_up():
    """Import what every judge imports: torch, transformers, pytest, the
    plugin and the grader's test modules; then compute the tests' reference
    data (``checks.reference_fixture``), single-threaded as a judge computes
    it, so no OpenMP thread team exists (OpenMP is not fork-safe). Torch's
    random state is put back as it was: each judge starts from the state a
    fresh process has."""
    gc.disable()  # no collections during the imports (see plugin.pytest_configure): frozen below
    import torch

    torch.set_num_threads(1)
    import pytest  # noqa: F401
    import pytest_jsonreport.plugin  # noqa: F401
    import pytest_timeout  # noqa: F401

    from . import audit, checks
    from . import plugin  # noqa: F401
    from .judge import test_files

    checks.import_reference_libraries()

    for path in test_files(include_hidden=True):
        try:  # under the name pytest's import gives it, so the judge finds it imported
            importlib.import_module(".".join(path.with_suffix("").parts))
        except Exception:
            pass  # the judge reports it, as a collection error
    random_state = torch.random.get_rng_state()
    checks.compute_references()
    torch.random.set_rng_state(random_state)
    audit.list_watched()
    gc.freeze()  # what every judge inherits: never walked by their collectors, never copied by touching it
    gc.enable()


def _become_judge(request: dict, results_fd: int, log_fd: int, server: "_Server") -> None:
    """In a forked judge: become the process ``run`` would have started."""
    server.control.close()
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in server.wakeup:
        os.close(fd)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)


def _exit_with(code: int):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_pytest(argv: list[str]):
    """A judge that collects for itself: ``pytest.main`` afresh."""
    import pytest

    code = 3
    try:
        code = int(pytest.main(argv))
    finally:
        _exit_with(code)


def _judge_argv(request: dict, results_fd: int) -> list[str]:
    return [arg.replace("{results_fd}", str(results_fd)) for arg in request["argv"]]


def option_value(argv: list[str], name: str) -> str | None:
    """The value that follows ``name`` in a judge's arguments (None if it has none)."""
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def _session_key(request: dict) -> tuple | None:
    """What judges forked from one collected session share: their pytest
    arguments but the submission and the results pipe, and their folder.
    None for a judge that must collect for itself: a relaunch (some checks
    deselected, some steps skipped), or spawned workers."""
    argv = list(request["argv"])
    try:
        forks = worker_kind(request["env"]) == "fork"
    except WorkerKindError:
        forks = False  # the judge reports it
    own = ("--submission", "--results-fd")  # what differs from one submission to the next
    if "--deselect" in argv or option_value(argv, "--skip-steps") != "" or not forks or None in (option_value(argv, n) for n in own):
        return None
    for name in own:
        argv[argv.index(name) + 1] = ""
    return (request["cwd"], *argv)


class _Server:
    """The warm process's loop: a judge forked for each request, reported
    once it has ended. The first request that allows it is collected in this
    process (``collected_session``), and each later request with the same
    arguments gets a judge forked from that session."""

    def __init__(self, control: socket.socket):
        self.control = control
        self.wakeup = _wake_on_child_exit()
        self.judges: dict[int, int] = {}  # pid -> request id
        self.collected: tuple | None = None  # the collected session's key, once there is one

    def loop(self, session=None, pending: tuple | None = None):
        """Serve until the client is gone (then return None). In a judge
        forked from the collected ``session``, return ``(request,
        results_fd)`` for it to run its checks; other judges never return."""
        while True:
            if pending is None:
                readable, _, _ = select.select([self.control, self.wakeup[0]], [], [])
                if self.wakeup[0] in readable:
                    _drain(self.wakeup[0])
                if self.control in readable:
                    pending = self._receive()
                    if pending is None:
                        return None
            if pending:
                (request, (results_fd, log_fd)), pending = pending, None
                key = _session_key(request)
                if session is None and self.collected is None and key is not None:
                    self.collected = key
                    _collect_and_serve(self, request, (results_fd, log_fd))  # returns only if it could not collect
                    self.collected = ()  # then every judge collects for itself
                pid = os.fork()
                if pid == 0:
                    _become_judge(request, results_fd, log_fd, self)
                    if session is not None and key == self.collected:
                        return request, results_fd
                    _run_pytest(_judge_argv(request, results_fd))
                os.close(results_fd)
                os.close(log_fd)
                self.judges[pid] = request["id"]
                _send(self.control, {"id": request["id"], "pid": pid})
            _reap(self.control, self.judges)

    def _receive(self):
        """The next request with its two descriptors; () for a malformed
        message; None once the client is gone."""
        try:
            data, fds, _, _ = socket.recv_fds(self.control, _MAX_REQUEST, 2)
        except OSError:
            data, fds = b"", []
        if not data:
            return None
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return ()
        return json.loads(data), tuple(fds)

    def end(self):
        """End every judge still running: the client is gone."""
        for pid in self.judges:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _collect_and_serve(server: _Server, request: dict, fds: tuple[int, int]) -> None:
    """Collect the checks here, once, with ``request``'s arguments, and serve
    every later request from inside that session: the warm process never
    returns from it, and a judge forked from it exits once its checks have
    run. Returns only if pytest ended before running any check (it could not
    collect them); ``request`` is then still to be served."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):  # what the session prints before any judge exists is nobody's
        os.dup2(devnull, fd)
    os.close(devnull)
    import pytest

    from .collected_session import CollectedSession

    session = CollectedSession(server, (request, fds))
    code = pytest.main(_judge_argv(request, 0), plugins=[session])  # 0: no results pipe until a judge begins
    if session.forked is not None:  # a judge forked from the session: its checks have run
        _exit_with(int(code))
    if session.serving:  # the loop itself failed: end, and the client starts another warm process
        server.end()
        _exit_with(1)


def _wake_on_child_exit() -> tuple[int, int]:
    """A pipe that receives a byte whenever a child ends (SIGCHLD), so the
    loop below reports an ended judge at once instead of polling for it."""
    wakeup = os.pipe()
    for fd in wakeup:
        os.set_blocking(fd, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler of Python's own: only then is the byte written
    signal.set_wakeup_fd(wakeup[1])
    return wakeup


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def serve(control: socket.socket) -> None:
    reaping.become_subreaper()
    _warm_up()
    server = _Server(control)
    server.loop()
    server.end()


def _reap(control: socket.socket, judges: dict[int, int]) -> None:
    """Report each judge that ended, and end what it left behind."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        request_id = judges.pop(pid, None)
        if request_id is None:
            continue  # an orphan we adopted
        try:
            os.killpg(pid, signal.SIGKILL)  # its workers, and anything in its session
        except (ProcessLookupError, PermissionError):
            pass
        reaping.kill_strays(keep=set(judges))
        _send(control, {"id": request_id, "status": status})


def _send(control: socket.socket, event: dict) -> None:
    try:
        control.sendall(json.dumps(event).encode() + b"\n")
    except OSError:
        pass


def main(argv: list[str]) -> int:
    fd = int(argv[argv.index("--socket") + 1])
    serve(socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=fd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
