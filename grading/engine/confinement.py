"""What a worker is denied, applied inside the worker before it imports any
submission code. Called by ``grading.engine.worker`` (worker side only).

* its own process group and a parent-death signal, so that it and anything it
  starts can be killed as one, and never outlive the judge;
* every inherited file descriptor but its pipes, so it cannot write into the
  judge's report stream;
* stdout and stderr go to a capped file, so nothing it prints reaches the
  judge's output (or the GitHub Actions log), and endless printing ends in
  ``SIGXFSZ`` instead of a full disk;
* an address-space cap, so a 40 GB allocation fails inside the worker;
* no privileges, and where the kernel has Landlock, writes only to its own
  temp folder and no signals to processes outside the sandbox.

Process groups and the file-size cap are POSIX's; the parent-death signal,
the address-space cap, privileges and Landlock are Linux's (elsewhere a
thread watches the judge instead of the signal). Each function
returns the names of the measures that took effect (``APPLIED`` lists them
all), which the results record as the run's ``confinement``.
"""

from __future__ import annotations

import faulthandler
import io
import os
import signal
import struct
import sys
from pathlib import Path

from ..config import Limits

try:
    import resource
except ImportError:  # Windows
    resource = None

LINUX = sys.platform.startswith("linux")
# Every measure, in the order a worker applies them.
APPLIED = (
    "process-group", "parent-death-signal", "parent-watch", "only-its-pipes", "output-to-file", "output-cap", "memory-cap",
    "private-temp", "no-new-privileges", "no-capabilities", "landlock-writes", "landlock-signals",
)  # fmt: skip


def isolate_process(judge_pid: int | None = None) -> list[str]:
    """Own process group; die with the judge (``judge_pid``: if it is already
    gone, exit now); the judge's timers and signal handlers are not ours."""
    applied = []
    if hasattr(os, "setpgid"):
        try:
            os.setpgid(0, 0)
        except OSError:
            pass  # a spawned worker is started as its group's leader already
        if os.getpgid(0) == os.getpid():
            applied.append("process-group")
    if LINUX:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, signal.SIGKILL) == 0:  # PR_SET_PDEATHSIG: die with the judge
                applied.append("parent-death-signal")
        except (OSError, AttributeError):
            pass
        if judge_pid is not None and os.getppid() != judge_pid:
            os._exit(0)  # the judge ended before the signal was armed
    if "parent-death-signal" not in applied and judge_pid is not None:
        applied += _watch_judge(judge_pid)
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)  # the judge's pytest-timeout alarm is not ours
    for name in ("SIGALRM", "SIGINT", "SIGTERM", "SIGXFSZ", "SIGPIPE"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    return applied


def _watch_judge(judge_pid: int) -> list[str]:
    """Where there is no parent-death signal (macOS, Windows): a thread that
    ends this process once the judge is gone."""
    import threading
    import time

    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x00100000, False, judge_pid)  # SYNCHRONIZE
        if not handle:
            os._exit(0)  # the judge has ended already

        def wait():
            kernel32.WaitForSingleObject(handle, 0xFFFFFFFF)  # INFINITE
            os._exit(0)

    else:
        if os.getppid() != judge_pid:
            os._exit(0)

        def wait():
            while os.getppid() == judge_pid:  # an orphan is adopted by another process
                time.sleep(0.5)
            os._exit(0)

    threading.Thread(target=wait, name="grading-judge-watch", daemon=True).start()
    return ["parent-watch"]


def lock_down(tmp: Path) -> list[str]:
    """Take away what could reach the judge: privileges (no setuid gains; as
    root, every capability, so /proc/<judge>/fd and /proc/<judge>/mem stay
    closed) and, where the kernel has Landlock, writing files anywhere but
    ``tmp`` and signalling processes outside the sandbox (the judge)."""
    import ctypes
    import tempfile

    for name in ("TMPDIR", "TEMP", "TMP"):
        os.environ[name] = str(tmp)
    tempfile.tempdir = str(tmp)
    applied = ["private-temp"]
    if not LINUX:
        return applied  # prctl, capabilities and Landlock are Linux's; elsewhere (a student's Mac) only the rest applies
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return applied
    if libc.prctl(38, 1, 0, 0, 0) == 0:  # PR_SET_NO_NEW_PRIVS: no setuid binary (sudo) gives power back
        applied.append("no-new-privileges")
    if os.geteuid() == 0:
        _drop_capabilities(libc)
        applied.append("no-capabilities")
    if os.environ.get("GRADING_LANDLOCK", "1") != "0":
        applied += _landlock(libc, tmp)
    return applied


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


def _landlock(libc, tmp: Path) -> list[str]:
    """Landlock (Linux ≥ 5.13): writes only under ``tmp`` (and /dev/null);
    with ABI ≥ 6 also no signals to processes outside the sandbox."""
    import ctypes

    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # landlock_create_ruleset(VERSION)
    if abi < 1:
        return []
    handled = _LANDLOCK_WRITES | (_LANDLOCK_REFER if abi >= 2 else 0) | (_LANDLOCK_TRUNCATE if abi >= 3 else 0)
    scoped = _LANDLOCK_SCOPE_SIGNAL if abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(handled, 0, scoped)
    size = 24 if abi >= 6 else 8
    ruleset = syscall(444, attr, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return []
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
        if syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:  # landlock_restrict_self
            return []
        return ["landlock-writes"] + (["landlock-signals"] if scoped else [])
    finally:
        os.close(ruleset)


def keep_only_fds(keep: set[int]) -> list[str]:
    keep = keep | {0, 1, 2}
    if os.name == "nt":
        return ["only-its-pipes"]  # a spawned process inherits no handle but its three standard ones
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
    return ["only-its-pipes"]


def redirect_output(out_fd: int) -> list[str]:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    if os.name == "nt":  # what child processes and C code reach as "standard output" too
        import ctypes
        import msvcrt

        for std, fd in ((-10, 0), (-11, 1), (-12, 2)):  # STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE
            ctypes.windll.kernel32.SetStdHandle(std, msvcrt.get_osfhandle(fd))
    # The judge's sys.stdout/stderr are pytest's capture objects over files
    # this process no longer has: print() must reach fds 1 and 2 instead.
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), "utf-8", "replace", line_buffering=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), "utf-8", "backslashreplace", line_buffering=True)
    faulthandler.enable(file=out_fd)  # a segfault's Python stack lands in the output
    return ["output-to-file"]


def apply_limits(limits: Limits) -> list[str]:
    if resource is None:
        return []  # Windows: the judge watches the output's size instead (``grading.engine.worker``)
    applied = []
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
    applied.append("output-cap")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        with open("/proc/self/status") as fh:
            vm_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmSize"))
        cap = (vm_kb << 10) + (limits.memory_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        applied.append("memory-cap")
    except (OSError, StopIteration, ValueError):
        pass  # no /proc (macOS, which does not enforce an address-space cap anyway)
    return applied
