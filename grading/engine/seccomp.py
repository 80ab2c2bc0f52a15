"""A seccomp filter that keeps a worker's signals to itself, on every Linux.

Called by ``grading.engine.confinement.lock_down`` (worker side only), after
``PR_SET_NO_NEW_PRIVS``. Landlock's signal scoping (ABI ≥ 6, Linux ≥ 6.12)
already stops a worker from signalling the judge; older kernels (GitHub's
Ubuntu 22.04 runners: Linux 6.8, ABI 4) do not, so this filter does it
there too, and wherever Landlock is off.

The rule, checked by the kernel on every call (it costs nothing measurable):

* ``kill(pid, sig)`` only to the worker's own process group (``pid`` 0 or
  ``-pgid``), to itself, or with ``sig`` 0 (a probe that delivers nothing);
* ``tkill``, ``tgkill``, ``rt_sigqueueinfo``, ``rt_tgsigqueueinfo`` only
  within the worker's own thread group (``raise()``, ``pthread_kill``);
* never ``pidfd_send_signal``, and never the calls that reach into another
  process (``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_getfd``);
* no ``F_SETOWN`` (``fcntl``) or ``FIOSETOWN``/``SIOCSPGRP`` (``ioctl``),
  which would aim ``SIGIO`` at another process;
* any call of another ABI (x32, i386 ``int 0x80``) fails.

A refused call fails with ``EPERM`` (Python raises ``PermissionError``).
Children of the worker inherit the filter: they may signal the group, but
not the worker by its pid. The worker's own pid is fixed into the filter;
the worker is its group's leader (``os.setpgid(0, 0)``), so pid == pgid.

The program is classic BPF written out here with ``ctypes``; no dependency.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SYSCALLS = {  # name: (x86_64, aarch64)
    "kill": (62, 129),
    "tkill": (200, 130),
    "tgkill": (234, 131),
    "rt_sigqueueinfo": (129, 138),
    "rt_tgsigqueueinfo": (297, 240),
    "pidfd_send_signal": (424, 424),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438),
    "fcntl": (72, 25),
    "ioctl": (16, 29),
    "seccomp": (317, 277),
}
_X32_BIT = 0x40000000
_F_SETOWN, _F_SETOWN_EX = 8, 15
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902

# classic BPF opcodes
_LD_ABS_W = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K, _JGE_K, _JA = 0x15, 0x35, 0x05
_RET_K = 0x06
_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_EPERM = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_NR, _ARCH = 0, 4


def _arg(index: int) -> int:
    """Offset of an argument's low 32 bits in ``struct seccomp_data`` (the
    kernel reads pids, signals and commands as 32-bit ints)."""
    return 16 + 8 * index


def machine() -> str:
    name = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)


def supported() -> bool:
    return sys.platform.startswith("linux") and machine() in _AUDIT_ARCH and sys.byteorder == "little"


class _Program:
    """A tiny assembler: instructions with labelled jump targets."""

    def __init__(self):
        self.code: list[tuple] = []
        self.labels: dict[str, int] = {}

    def load(self, offset):
        self.code.append((_LD_ABS_W, None, None, offset))

    def jump_if(self, op, value, true: str | None, false: str | None = None):
        self.code.append((op, true, false, value))

    def ret(self, value):
        self.code.append((_RET_K, None, None, value))

    def label(self, name):
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = b""
        for index, (op, true, false, k) in enumerate(self.code):
            jt = jf = 0
            if op in (_JEQ_K, _JGE_K):
                jt = self.labels[true] - index - 1 if true else 0
                jf = self.labels[false] - index - 1 if false else 0
                assert 0 <= jt < 256 and 0 <= jf < 256
            out += struct.pack("=HBBI", op, jt, jf, k & 0xFFFFFFFF)
        return out


def program(own_pid: int, arch: str) -> bytes:
    """The filter for a worker whose pid (and process group) is ``own_pid``."""
    column = 0 if arch == "x86_64" else 1
    nr = {name: numbers[column] for name, numbers in _SYSCALLS.items()}
    p = _Program()
    p.load(_ARCH)
    p.jump_if(_JEQ_K, _AUDIT_ARCH[arch], None, "deny")
    p.load(_NR)
    if arch == "x86_64":
        p.jump_if(_JGE_K, _X32_BIT, "deny")
    p.jump_if(_JEQ_K, nr["kill"], "kill")
    p.jump_if(_JEQ_K, nr["tkill"], "tkill")
    for name in ("tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        p.jump_if(_JEQ_K, nr[name], "own_group")
    for name in ("pidfd_send_signal", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"):
        p.jump_if(_JEQ_K, nr[name], "deny")
    p.jump_if(_JEQ_K, nr["fcntl"], "fcntl")
    p.jump_if(_JEQ_K, nr["ioctl"], "ioctl")
    p.ret(_ALLOW)

    p.label("kill")  # kill(pid, sig)
    p.load(_arg(1))
    p.jump_if(_JEQ_K, 0, "allow")
    p.load(_arg(0))
    p.jump_if(_JEQ_K, 0, "allow")
    p.jump_if(_JEQ_K, own_pid, "allow")
    p.jump_if(_JEQ_K, -own_pid, "allow", "deny")

    p.label("tkill")  # tkill(tid, sig): the main thread's tid is the pid
    p.load(_arg(1))
    p.jump_if(_JEQ_K, 0, "allow")
    p.load(_arg(0))
    p.jump_if(_JEQ_K, own_pid, "allow", "deny")

    p.label("own_group")  # tgkill(tgid, ...), rt_(tg)sigqueueinfo(tgid, ...)
    p.load(_arg(0))
    p.jump_if(_JEQ_K, own_pid, "allow", "deny")

    p.label("fcntl")
    p.load(_arg(1))
    p.jump_if(_JEQ_K, _F_SETOWN, "deny")
    p.jump_if(_JEQ_K, _F_SETOWN_EX, "deny", "allow")

    p.label("ioctl")
    p.load(_arg(1))
    p.jump_if(_JEQ_K, _FIOSETOWN, "deny")
    p.jump_if(_JEQ_K, _SIOCSPGRP, "deny", "allow")

    p.label("allow")
    p.ret(_ALLOW)
    p.label("deny")
    p.ret(_EPERM)
    return p.assemble()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(libc, own_pid: int | None = None) -> str:
    """Install the filter on this process (all its threads); return what is
    in force: "seccomp", or why not ("unsupported: …", "failed: …")."""
    if not supported():
        return f"unsupported on {sys.platform} {machine()}"
    own_pid = os.getpid() if own_pid is None else own_pid
    arch = machine()
    code = program(own_pid, arch)
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    seccomp_nr = _SYSCALLS["seccomp"][0 if arch == "x86_64" else 1]
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog): every thread at once
    if syscall(ctypes.c_long(seccomp_nr), ctypes.c_uint(1), ctypes.c_uint(1), ctypes.byref(prog)) == 0:
        return "seccomp"
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return "seccomp"
    return f"failed: {os.strerror(ctypes.get_errno())}"
