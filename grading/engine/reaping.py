"""Ending what a submission started: its workers, and the orphans they leave.

Called by the judge (``grading.engine.worker``, ``grading.engine.plugin``)
and by the process that starts the judge (``grading.engine.judge``). Both
become subreapers, so a worker's escaped children (a double fork, a
``setsid``) are adopted by them instead of by init, and ``kill_strays`` can
find and end them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

# Workers alive now; workers killed but not yet reaped; and whether this
# process adopts its descendants' orphans.
LIVE: set[int] = set()
DYING: set[int] = set()
_ADOPTS_ORPHANS = False


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (PR_SET_CHILD_SUBREAPER),
    so a worker's escaped children (double fork, setsid) can be found and
    ended by ``kill_strays``. Called by the judge and by the runner."""
    global _ADOPTS_ORPHANS
    try:
        import ctypes

        _ADOPTS_ORPHANS = ctypes.CDLL(None).prctl(36, 1) == 0
    except (OSError, AttributeError, TypeError):  # not Linux
        _ADOPTS_ORPHANS = False
    return _ADOPTS_ORPHANS


def kill_strays(keep: set[int] | None = None):
    """Kill and reap every child of this process but the live workers (and
    ``keep``): orphans a worker left, adopted because we are a subreaper."""
    if not _ADOPTS_ORPHANS:
        return
    keep = LIVE | (keep or set())
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
            DYING.discard(pid)  # reaped: its number may be reused, so it must not be waited for again


def settle():
    """Reap the workers killed without waiting (``DYING``), then end what
    they left behind: called before any more submission code runs. Their
    memory is freed meanwhile, while the judge does other work."""
    if not DYING:
        return
    for pid in list(DYING):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        DYING.discard(pid)
    kill_strays()


def children_of(parent: int) -> list[int]:
    """Process ids whose parent is ``parent`` (from /proc; Linux): each of its
    threads' ``children`` list, where the kernel keeps one, else a scan of
    every process (called after every worker: the scan costs milliseconds)."""
    try:
        return [int(pid) for tid in os.listdir(f"/proc/{parent}/task")
                for pid in Path(f"/proc/{parent}/task/{tid}/children").read_text().split()]  # fmt: skip
    except (OSError, ValueError):
        return _scan_for_children(parent)


def _scan_for_children(parent: int) -> list[int]:
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

