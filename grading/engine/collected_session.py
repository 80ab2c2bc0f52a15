"""One collected pytest session kept in the warm process (``grading.engine.zygote``),
for judges to fork from: collecting the checks costs a judge about a tenth
of its run, and it is the same for every submission of a class.

Where pytest would run the checks, the warm process serves requests instead
(``zygote._Server.loop``). Each judge forked from there takes its own
submission, limits, results pipe and scratch folder
(``plugin.Judge.take_submission``), begins its run (``plugin.Judge.begin``:
announces the checks, starts the first workers) and returns to pytest, whose
own loop runs the checks as in any judge.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import sys

import pytest

from . import reaping
from .plugin import KEPT_COLLECTED
from .zygote import option_value


class CollectedSession:
    """The pytest plugin that turns a collected session into the warm process's loop."""

    def __init__(self, server, first: tuple):
        self.server, self.first = server, first  # the zygote's ``_Server``; the request that collected
        self.forked: dict | None = None  # in a judge forked from the session: its request
        self.serving = False  # whether the warm process got as far as serving from the session

    def pytest_configure(self, config):
        config.stash[KEPT_COLLECTED] = True  # the judge of this session begins no run of its own

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        self.serving = True
        judge = session.config._grading
        shutil.rmtree(judge.scratch, ignore_errors=True)  # the session's own: each judge makes its own
        for item in session.items:
            item.location  # noqa: B018 -- cached on the item: worked out here once, not in every judge's reports
        forked = self.server.loop(session, pending=self.first)
        if forked is None:  # the client is gone: so is the warm process
            self.server.end()
            os._exit(0)
        self.forked, results_fd = forked
        reaping.become_subreaper()  # a forked child is not one by inheritance
        faulthandler.enable(file=sys.stderr)  # a crash's stack to this judge's log, not the session's
        judge.take_submission(option_value(self.forked["argv"], "--submission"), results_fd)
        judge.begin(session)
        return None  # pytest's own loop runs the checks
