"""Plain ``pytest`` in your repository runs the visible checks.

This is what the test panels of VS Code and PyCharm run. Each check in
``tests/visible`` becomes one test named by its title
(``tests/visible/test_step_01.py::vocab_size is set correctly``). They are
graded the way ``python -m grading check`` grades them: the first check that
runs grades every step in the run at once, through the same sandbox, against
``assignments/``. A failing check shows the message and hint that ``check``
prints.

    pytest                              # every step
    pytest tests/visible/test_step_03.py
    pytest -k "step_07"                 # one step, by name

Only files in ``tests/visible`` are touched. The grader never reads this
file: it runs its own configuration (``grading/judge.ini``, ``--noconftest``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

VISIBLE = Path(__file__).resolve().parent / "visible"
ROOT = VISIBLE.parent.parent  # the repository: grading/, assignments/, tests/
_TITLES = pytest.StashKey[set]()  # the names already given in one test file
_VERDICTS = pytest.StashKey[dict]()  # the grading of this run, once


def _visible(path) -> bool:
    return Path(path).resolve().parent == VISIBLE


def pytest_configure(config):
    config.addinivalue_line("markers", "check(title, hint, weight): a graded check (see grading/engine/checks.py)")


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector, name, obj):
    """Each check function of a visible test file becomes its checks, one
    ``Check`` per case, named by title; anything else stays as it was."""
    result = yield
    if not isinstance(result, list) or not _visible(collector.path):
        return result
    return [Check.of(function) if isinstance(function, pytest.Function) and function.get_closest_marker("check") else function
            for function in result]  # fmt: skip


class CheckFailed(Exception):
    """A check did not pass; the message is what ``check`` prints for it."""


class Check(pytest.Item):
    """One visible check, named by its title, graded by the sandboxed judge."""

    def __init__(self, *, key: str, title: str, step: str, lineno: int, **kwargs):
        super().__init__(**kwargs)
        self.key = key  # the check's node id as the judge sees it
        self.title = title
        self.step = step
        self.lineno = lineno

    @classmethod
    def of(cls, function: pytest.Function) -> "Check":
        from grading.config import step_of
        from grading.engine.plugin import check_facts

        facts = check_facts(function)
        title = " ".join(facts["title"].replace("::", ": ").split())
        taken = function.parent.stash.setdefault(_TITLES, set())
        name, n = title, 1
        while name in taken:  # two checks with one title still get two names
            n += 1
            name = f"{title} ({n})"
        taken.add(name)
        key = Path(function.path).resolve().relative_to(ROOT).as_posix() + "::" + function.nodeid.split("::", 1)[1]
        item = cls.from_parent(function.parent, name=name, key=key, title=facts["title"], step=step_of(function.path).id,
                               lineno=function.reportinfo()[1] or 0)  # fmt: skip
        item.extra_keyword_matches.update({function.originalname, f"step_{item.step}"})
        for mark in function.iter_markers("check"):  # so `-m check` selects the checks
            item.own_markers.append(mark)
            item.keywords[mark.name] = mark
        return item

    def runtest(self):
        verdicts = _verdicts(self.session)
        if isinstance(verdicts, str):
            raise CheckFailed(verdicts)
        result = verdicts.get(self.key) or verdicts.get((self.step, self.title))
        if result is None:
            raise CheckFailed("this check did not run: the grader stopped before reaching it")
        if not result.passed:
            raise CheckFailed(result.message + (f"\nHint: {result.hint}" if result.hint else ""))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)  # the plain message and hint, no traceback
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.lineno, f"Step {self.step}: {self.name}"


def _verdicts(session) -> dict | str:
    """Grade, once per run, every step that has a check in it: a dict from
    the judge's node id (and from step and title) to each check's result, or
    the one message every check fails with when grading was not possible."""
    if _VERDICTS not in session.stash:
        steps = sorted({item.step for item in session.items if isinstance(item, Check)})
        plugins = session.config.pluginmanager
        reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"grading step{'s' if len(steps) > 1 else ''} {', '.join(steps)} of assignments/ as `python -m grading check` does...")
        session.stash[_VERDICTS] = _grade(steps)
    return session.stash[_VERDICTS]


def _grade(steps: list[str]) -> dict | str:
    from grading.cli import UsageError, _submission
    from grading.cli import grade
    from grading.config import Limits, WorkerKindError

    try:
        results = grade(_submission(None), include_hidden=False, steps=steps, limits=Limits.from_env())
    except (UsageError, WorkerKindError) as error:
        return str(error)
    except Exception as error:  # the grader itself failed: every check says so, once, plainly
        return f"the grader could not run ({type(error).__name__}: {error}); try `python -m grading check`"
    verdicts: dict = {}
    for check in results.checks:
        verdicts[check.nodeid] = check
        verdicts.setdefault((check.step, check.title), check)
    return verdicts
