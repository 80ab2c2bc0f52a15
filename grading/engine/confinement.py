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
"""

from __future__ import annotations

import faulthandler
import io
import os
import resource
import signal
import struct
import sys
from pathlib import Path

from ..config import Limits

def isolate_process():
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


def lock_down(tmp: Path):
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


def keep_only_fds(keep: set[int]):
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


def redirect_output(out_fd: int):
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


def apply_limits(limits: Limits):
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        with open("/proc/self/status") as fh:
            vm_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmSize"))
        cap = (vm_kb << 10) + (limits.memory_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (OSError, StopIteration, ValueError):
        pass
