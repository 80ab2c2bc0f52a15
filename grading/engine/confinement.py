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
* no privileges; no signals to any process outside its own group (a
  seccomp filter, ``grading.engine.seccomp``, on every Linux; Landlock's
  signal scoping too where the kernel has ABI >= 6);
* where the kernel has Landlock (Linux >= 5.13): writes only to its own temp
  folder, and reads only from the submission, the Python installation and
  the system, never from the grader's own files (``read_roots``).

Process groups and the file-size cap are POSIX's; the parent-death signal,
the address-space cap, privileges, seccomp and Landlock are Linux's
(elsewhere a thread watches the judge instead of the signal). Each function
returns the names of the measures that took effect (``APPLIED`` lists them
all); the judge keeps those in force in every worker, and ``summary`` turns
them into the results' ``confinement``, so an instructor knows which grades
ran unconfined."""

from __future__ import annotations

import faulthandler
import functools
import io
import os
import platform
import signal
import stat
import struct
import sys
from pathlib import Path

from ..config import Limits
from . import seccomp  # imported now: after the lock, the grader's files cannot be read

try:
    import resource
except ImportError:  # Windows
    resource = None

LINUX = sys.platform.startswith("linux")
# Every measure, in the order a worker applies them.
APPLIED = (
    "process-group", "parent-death-signal", "parent-watch", "only-its-pipes", "output-to-file", "output-cap", "memory-cap",
    "private-temp", "no-new-privileges", "no-capabilities", "landlock-writes", "landlock-reads", "landlock-signals",
    "seccomp-signals",
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
            libc = _libc()
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


def lock_down(tmp: Path, submission: Path | None = None) -> list[str]:
    """Take away what could reach the judge: privileges (no setuid gains; as
    root, every capability, so /proc/<judge>/fd and /proc/<judge>/mem stay
    closed); signals to any process outside the worker's group (seccomp, on
    every Linux; Landlock's scoping too where the kernel has it); and, where
    the kernel has Landlock, writing files anywhere but ``tmp`` and, when
    ``submission`` is given, reading anything but the submission, the Python
    installation and the system (``read_roots``): never the grader's own
    files. ``GRADING_LANDLOCK=0``, ``GRADING_LANDLOCK_SIGNALS=0`` and
    ``GRADING_SECCOMP=0`` turn parts off (the project's tests of the others)."""
    import tempfile

    for name in ("TMPDIR", "TEMP", "TMP"):
        os.environ[name] = str(tmp)
    tempfile.tempdir = str(tmp)
    applied = ["private-temp"]
    if not LINUX:
        return applied  # prctl, capabilities, seccomp and Landlock are Linux's; elsewhere (a student's Mac) only the rest applies
    try:
        libc = _libc()
    except OSError:
        return applied
    if libc.prctl(38, 1, 0, 0, 0) == 0:  # PR_SET_NO_NEW_PRIVS: no setuid binary (sudo) gives power back
        applied.append("no-new-privileges")
    if os.geteuid() == 0:
        _drop_capabilities(libc)
        applied.append("no-capabilities")
    if _switched_on("GRADING_LANDLOCK"):
        applied += _landlock(libc, tmp, submission)
    if _switched_on("GRADING_SECCOMP") and seccomp.install(libc) == "seccomp":
        applied.append("seccomp-signals")
    return applied


def _switched_on(name: str) -> bool:
    return os.environ.get(name, "1") != "0"


def _drop_capabilities(libc):
    """Root keeps its uid (to read the submission) but loses every capability."""
    import ctypes

    libc.prctl(28, 0x2F, 0, 0, 0)  # PR_SET_SECUREBITS: NOROOT, NO_SETUID_FIXUP (locked): exec gives none back
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all zero
    libc.capset(header, data)


# --------------------------------------------------------------------------
# What the results say: the measures in force, in words


def summary(measures: list[str]) -> dict:
    """The results' ``confinement``, from the measures in force in every
    worker of a run (judge side, on the machine that ran them):
    ``reads``/``writes`` "landlock" or "none"; ``signals`` "landlock-scope",
    "seccomp", both joined by "+", or "none"; ``kernel`` in words;
    ``reason`` why reads were not confined; ``measures`` themselves."""
    have = set(measures)
    signals = [name for name, measure in (("landlock-scope", "landlock-signals"), ("seccomp", "seccomp-signals")) if measure in have]
    abi = landlock_abi()
    kernel = f"{platform.system()} {platform.release()}" + (f", Landlock ABI {abi}" if abi >= 1 else "")
    if seccomp.supported():
        kernel += ", seccomp" if "seccomp-signals" in have or _switched_on("GRADING_SECCOMP") else ", seccomp turned off (GRADING_SECCOMP=0)"
    out = {
        "reads": "landlock" if "landlock-reads" in have else "none",
        "writes": "landlock" if "landlock-writes" in have else "none",
        "signals": "+".join(signals) or "none",
        "kernel": kernel,
        "measures": [name for name in APPLIED if name in have],
    }
    if "landlock-reads" not in have:
        if not LINUX:
            out["reason"] = f"not Linux ({sys.platform})"
        elif not _switched_on("GRADING_LANDLOCK"):
            out["reason"] = "Landlock turned off (GRADING_LANDLOCK=0)"
        elif abi < 1:
            out["reason"] = f"the kernel has no Landlock (Linux {platform.release()})"
    return out


def unconfined(found: dict) -> str:
    """One sentence for the run's output when the workers' reads or signals
    were not confined, else ""."""
    gaps = [what for key, what in (("reads", "kept from reading the grader's files"), ("signals", "kept from signalling the grader"))
            if found and found.get(key, "none") == "none"]  # fmt: skip
    if not gaps:
        return ""
    why = f": {found['reason']}" if found.get("reason") else ""
    return (
        f"Confinement: on this machine the submission's code could not be {' or '.join(gaps)}{why}. "
        "Attempts are still flagged; grade on a Linux machine with Landlock for the authoritative result."
    )


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 where there is none)."""
    if not LINUX:
        return 0
    import ctypes

    try:
        syscall = _libc().syscall
        syscall.restype = ctypes.c_long
        return max(0, syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))  # landlock_create_ruleset(VERSION)
    except (OSError, AttributeError):
        return 0


# --------------------------------------------------------------------------
# What a worker may read


def read_roots(submission: Path, tmp: Path) -> list[str]:
    """Every folder (or file) a worker may read: the submission, its temp
    folder, the Python installation (prefixes and ``sys.path`` folders) and
    the system (``/usr``, ``/lib``, ``/etc``, ``/proc``, ``/sys``, ``/dev``).
    Never the grader's folder (``GRADER_ROOT``) nor the folder around the
    submission (the repository of ``REPO/assignments``): a root that holds
    one of them is replaced by its other entries, so only a subtree inside
    them (a virtual environment, the submission itself) stays readable.

    All but ``tmp`` is worked out once per submission and ``sys.path`` (in
    the judge, by ``warm``; forked workers inherit it). The submission's own
    entry on ``sys.path``, which a worker adds, changes nothing: it is a root."""
    own = os.fspath(submission)
    key = (os.path.realpath(submission), tuple(entry for entry in sys.path if entry != own))
    if key not in _ROOTS:
        _ROOTS.clear()
        _ROOTS[key] = _roots_of(key[0])
    return sorted(set(_ROOTS[key]) | {os.path.realpath(tmp)})


def warm(submission: Path) -> None:
    """Work out ``read_roots`` now (in the judge), so each worker only reads it."""
    read_roots(submission, os.sep)
    if LINUX:
        _libc()


@functools.cache
def _libc():
    """The C library, for the calls Python has no function for (prctl,
    syscall); loaded once, in the judge when it can be (``warm``)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


_ROOTS: dict[tuple, list[str]] = {}
_SYSTEM_READS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/nix/store")
_GRADERS = {"grading", "tests", "solutions", ".git", ".github"}


def _roots_of(submission: str) -> list[str]:
    from ..config import GRADER_ROOT

    def under(path, folder):  # path is folder or inside it
        return path == folder or path.startswith(os.path.join(folder, ""))

    avoid = {a for a in (os.path.realpath(GRADER_ROOT), os.path.dirname(submission)) if os.path.exists(a)}
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)}
    roots = [submission, *sorted(prefixes)]
    for entry in sys.path:
        path = os.path.realpath(entry or ".")
        if any(under(path, a) for a in avoid) and not any(under(path, p) for p in prefixes if p not in avoid):
            continue  # the grader's folder on sys.path (pytest's rootdir): never
        roots.append(path)
    allowed: set[str] = set()
    for root in roots + list(_SYSTEM_READS):
        if os.path.exists(root):
            allowed.update(_beneath(root, avoid))
    return sorted(p for p in allowed if not any(under(p, a) and p != a for a in allowed))  # the outermost only


def _beneath(root: str, avoid) -> list[str]:
    """``root``, or, when an avoided folder lies inside it, its entries but
    the avoided ones (recursively). A root that *is* an avoided folder (a
    virtual environment made in the repository's own folder, the grading
    package installed into site-packages) keeps all but the grader's own
    folders (``_GRADERS``)."""
    inner = [a for a in avoid if a.startswith(os.path.join(root, ""))]
    if root not in avoid and not inner:
        return [root]
    try:
        entries = [os.path.join(root, name) for name in os.listdir(root)]
    except OSError:
        return []
    out = []
    for entry in entries:
        if entry not in inner and not (root in avoid and os.path.basename(entry) in _GRADERS):
            out += _beneath(entry, inner)
    return out


# Landlock's file-system rights (include/uapi/linux/landlock.h)
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_LANDLOCK_READS = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_LANDLOCK_WRITES = _FS_WRITE_FILE | (1 << 4) | (1 << 5) | sum(1 << bit for bit in range(6, 13))  # write, remove, make
_LANDLOCK_REFER, _LANDLOCK_TRUNCATE, _LANDLOCK_IOCTL_DEV, _LANDLOCK_SCOPE_SIGNAL = 1 << 13, 1 << 14, 1 << 15, 1 << 1
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _LANDLOCK_TRUNCATE | _LANDLOCK_IOCTL_DEV


def _landlock(libc, tmp: Path, submission: Path | None) -> list[str]:
    """Landlock (Linux >= 5.13): writes only under ``tmp`` (and /dev/null);
    reads only under ``read_roots`` when ``submission`` is given; with
    ABI >= 6 also no signals to processes outside the sandbox (unless
    ``GRADING_LANDLOCK_SIGNALS=0``, for the tests of the seccomp filter).
    Returns the measures it enforces."""
    import ctypes

    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = landlock_abi()
    if abi < 1:
        return []
    extra = (_LANDLOCK_REFER if abi >= 2 else 0) | (_LANDLOCK_TRUNCATE if abi >= 3 else 0)
    reads = _LANDLOCK_READS if submission is not None else 0
    handled = _LANDLOCK_WRITES | extra | reads
    scoped = _LANDLOCK_SCOPE_SIGNAL if abi >= 6 and _switched_on("GRADING_LANDLOCK_SIGNALS") else 0
    attr = (ctypes.c_uint64 * 3)(handled, 0, scoped)
    ruleset = syscall(444, attr, ctypes.c_size_t(24 if abi >= 6 else 8), ctypes.c_uint32(0))
    if ruleset < 0:
        return []
    rules = [(tmp, handled), ("/dev/null", _FS_WRITE_FILE | _FS_READ_FILE | (extra & _LANDLOCK_TRUNCATE))]
    if reads:
        rules += [(root, reads) for root in read_roots(submission, tmp)]
    try:
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                access &= handled if stat.S_ISDIR(os.fstat(fd).st_mode) else handled & _FILE_RIGHTS
                rule = struct.pack("=Qi", access, fd)
                buffer = ctypes.create_string_buffer(rule, len(rule))
                syscall(445, ctypes.c_int(ruleset), ctypes.c_int(1), buffer, ctypes.c_uint32(0))  # PATH_BENEATH
            finally:
                os.close(fd)
        if syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:  # landlock_restrict_self
            return []
        return ["landlock-writes"] + (["landlock-reads"] if reads else []) + (["landlock-signals"] if scoped else [])
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
    # The judge's sys.stdout/stderr write to the judge's log, through
    # descriptors this process no longer has: print() must reach fds 1 and 2.
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
