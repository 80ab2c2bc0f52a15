"""A lone judge's partner: its last steps, checked on the machine's other core.

A judge checks its steps one after another, and at any moment either the
judge or one worker is busy: on two cores, one idles. So a lone judge
(``run``: it has its reference data still to compute, which a warm process
computed once for the judges it forks) forks a partner as soon as it has
collected, before any worker exists and so before any submission code runs.
The partner checks the last quarter of the steps, whose checks run whole
models, while the judge checks the others. Judges forked from a warm process
do not split: a regrade keeps both cores busy with two judges already.

A split run grades exactly as one judge would, because nothing in a step
depends on the steps checked before it in the same process: every step
begins from the same random state (``plugin.Judge.pytest_runtest_protocol``)
and reference data is computed from seeds alone. What does cross over is
the outcome of the earlier steps, which a twin needs
(``plugin.Judge.unready_steps``): the judge sends its outcomes when its own
steps are done, and the partner waits for them only for a twin that may run.

The partner writes its results stream to an unlinked file (a pipe would fill
while the judge is busy with its own steps), which the judge reads once its
own steps are done: it relays every event as it comes, and folds the
partner's report into its own. A partner that ends without a report leaves
the judge without one too, so the caller relaunches a judge for the checks
that did not report (``grading.engine.judge``), as for any judge that died.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from . import reaping

SHARE = 4  # the partner takes the last 1/SHARE of the steps
_POLL = 0.01  # seconds between the judge's looks at the partner's results


def partner_steps(steps: list[str]) -> list[str]:
    """The steps (in run order) a partner takes: none if there is one step."""
    if len(steps) < 2:
        return []
    return steps[len(steps) - max(1, len(steps) // SHARE) :]


class Partner:
    """The judge's hold on its partner: its pid, its results file, and the
    pipe that carries the judge's outcomes to it."""

    def __init__(self, pid: int, results, outcomes_fd: int):
        self.pid, self.results, self.outcomes_fd = pid, results, outcomes_fd

    def finish(self, outcomes: dict[str, str], relay) -> dict | None:
        """After the judge's own checks: send their outcomes, then ``relay``
        each line of the partner's results stream but its report as it comes
        (so a judge stopped meanwhile is known to be in the partner's check),
        until the partner has ended; return its report (None if it ended
        without one)."""
        data = memoryview(json.dumps(outcomes).encode())
        try:
            while data:  # a pipe takes 64 KB at once, and a signal can cut a write short
                data = data[os.write(self.outcomes_fd, data) :]
        except BrokenPipeError:  # it ended without needing them
            pass
        os.close(self.outcomes_fd)
        offset, pending, report, ended = 0, b"", None, False
        while not ended:
            ended = os.waitpid(self.pid, os.WNOHANG)[0] == self.pid  # before reading: the last read gets all
            while chunk := os.pread(self.results.fileno(), 1 << 20, offset):  # the partner's offset stays its own
                offset += len(chunk)
                pending += chunk
            *lines, pending = pending.split(b"\n")  # a line cut short by its end is never complete
            for line in lines:
                event = json.loads(line)
                if event.get("event") == "report":
                    report = event
                else:
                    relay(line.decode())
            if not ended:
                time.sleep(_POLL)
        reaping.LIVE.discard(self.pid)
        self.results.close()
        return report


class JudgeOutcomes:
    """The partner's view of the judge's steps: their outcomes, read once
    the judge has sent them (all at once, when its own steps are done)."""

    def __init__(self, fd: int):
        self.fd, self.outcomes = fd, None

    def get(self) -> dict[str, str]:
        if self.outcomes is None:
            chunks = []
            while chunk := os.read(self.fd, 1 << 16):
                chunks.append(chunk)
            os.close(self.fd)
            try:
                self.outcomes = json.loads(b"".join(chunks))
            except ValueError:  # the judge ended first: none of its checks counts as passed
                self.outcomes = {}
        return self.outcomes


def split(session, step_of_item) -> tuple[Partner | None, JudgeOutcomes | None, object]:
    """Fork a partner for the last steps of ``session.items``; each process
    keeps its own items. Returns, in the judge, ``(Partner, None, None)``; in
    the partner, ``(None, JudgeOutcomes, results file)``; and ``(None, None,
    None)`` where there is nothing to split."""
    order = list(dict.fromkeys(step_of_item(item) for item in session.items))
    theirs = set(partner_steps(order))
    if not theirs:
        return None, None, None
    results = tempfile.TemporaryFile("w+", buffering=1, encoding="utf-8")
    outcomes_r, outcomes_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or what they hold is written by both processes
    pid = os.fork()
    mine = (lambda item: step_of_item(item) in theirs) if pid == 0 else (lambda item: step_of_item(item) not in theirs)
    session.items[:] = [item for item in session.items if mine(item)]
    if pid == 0:
        os.close(outcomes_w)
        return None, JudgeOutcomes(outcomes_r), results
    os.close(outcomes_r)
    reaping.LIVE.add(pid)  # not a stray for kill_strays to end
    return Partner(pid, results, outcomes_w), None, None
