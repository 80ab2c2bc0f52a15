"""Hostile submissions grade the same in spawned workers as in forked ones
(see ``test_spawn``): the adversarial cases whose attack acts on the worker
process itself (crashes, exits, hangs, memory, output, orphans, signals, the
disk), with their own limits and environment, graded in both kinds and
compared check by check. The cases aimed at the judge's own configuration
(planted files, a forged report, patched checks, workflow commands) meet the
same judge whatever kind its workers are, and are graded by
``test_adversarial`` alone.

    pytest tests/suite/test_spawn_hostile.py -q
"""

from __future__ import annotations

import pytest

from tests.suite import test_adversarial as adversarial

from .test_spawn import assert_same_grades, graded


# Aimed at the judge (its configuration, its report, its checks, the log), not at the worker process.
_JUDGE_SIDE = {"fake_report", "patch_judge", "workflow_commands", "wrong_embeddings"}
SPAWNED_CASES = [c for c in adversarial.CASES if c.name not in _JUDGE_SIDE]
# Each case is graded on its hostile step alone: the honest steps graded with it
# in ``test_adversarial`` (which shows they keep their points) have workers of
# their own, spawned alike. Only a judge that dies takes them along: they are
# what its relaunch grades.
_JUDGE_DEATHS = {"kill_judge"}


def graded_steps(case) -> list[str]:
    return [case.step, *case.others] if case.name in _JUDGE_DEATHS else [case.step]


@pytest.mark.parametrize("case", SPAWNED_CASES, ids=[adversarial._id(c) for c in SPAWNED_CASES])
def test_hostile_submission_same_grades(case, warm_grader, tmp_path, monkeypatch):
    if not adversarial._available((case.step, *case.others)):
        pytest.skip("the steps this case needs have no tests or solution yet")
    results = {}
    for kind in ("fork", "spawn"):
        folder = adversarial.make_submission(tmp_path / kind / "submission", case)
        env = dict(case.env)
        if case.planted:
            env |= {k: v.format(submission=folder) for k, v in adversarial._PLANTED_ENV.items()}
            if case.cli:
                env = {k: v for k, v in env.items() if not k.startswith("PYTHON")}
        if case.cli:
            results[kind], stdout, stderr = adversarial._run_cli(folder, env | {"GRADING_WORKERS": kind}, tmp_path / kind)
            adversarial.assert_only_grader_commands(stdout, stderr, results[kind])
        else:
            results[kind] = graded(warm_grader, monkeypatch, kind, folder, graded_steps(case), adversarial.LIMITS, env)
    assert_same_grades(results["fork"], results["spawn"], adversarial._id(case))
    adversarial._no_process_left(tmp_path)
