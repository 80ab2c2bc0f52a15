"""Benchmark-only pytest plugin: the grader's tests as *plain pytest* would
run them, with the submission imported into the test process itself.

Used by ``benchmarks/grading_speed.py`` for its baselines (c) and (d), never
by the grader. The grader's tests need a ``student`` fixture (``grading.engine.plugin``
gives one backed by a sandboxed worker); this plugin, registered after
``grading.engine.plugin``, overrides ``student`` with an object whose
``call(probe, *args)`` runs ``probe(step_module, *args)`` right here: no fork,
no pipe, no limits, and the submission's own earlier steps (whichever
``foundation`` the check is collected on). That is what a classic autograder does
(a pytest run that imports the student's files), so the difference from (b)
is the full cost of our sandbox and runner.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from grading.config import step_of


class InProcess:
    def __init__(self, submission: Path, module: str):
        if str(submission) not in sys.path:
            sys.path.insert(0, str(submission))
        self.module = importlib.import_module(module)

    def call(self, probe, *args, **kwargs):
        return probe(self.module, *args, **kwargs)


def _student(request):
    submission = Path(request.config.option.submission or ".").resolve()
    return InProcess(submission, step_of(request.path).module)


@pytest.fixture(scope="module")
def student(request, foundation):
    return _student(request)
