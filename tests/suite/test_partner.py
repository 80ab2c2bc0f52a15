"""A lone judge's partner (``grading.engine.partner``): the last steps are
checked in a process of their own, on the other core, and the grades are
those one judge would give (``test_zygote`` compares a lone run with a warm
judge's, twins included)."""

from __future__ import annotations

import re

from grading.config import STEPS, step_of
from grading.engine import judge as runner
from grading.engine.partner import partner_steps

from .conftest import QUICK_LIMITS, make_submission

STEP_IDS = [step.id for step in STEPS]


def test_the_partner_takes_the_last_quarter_of_the_steps_and_never_all():
    assert partner_steps(STEP_IDS) == ["10", "11", "12"]
    assert partner_steps(["04", "10", "12"]) == ["12"]
    assert partner_steps(["04", "10"]) == ["10"]
    assert partner_steps(["07"]) == [] and partner_steps([]) == []


def test_a_reference_fixture_computes_the_same_whatever_ran_before_it():
    """What the partner relies on: a reference computed in either process,
    after whatever ran there, has the same values and leaves the same state;
    one that draws no random numbers leaves the state as it found it."""
    import torch

    from grading.engine import checks

    def draws():
        return torch.rand(3)  # from the global random state, on purpose

    def constant():
        return torch.ones(3)

    shared = {}
    for compute in (draws, constant):
        checks.reference_fixture(compute)
        shared[compute.__name__] = checks._REFERENCES.pop()  # this test's own
    values, states = [], []
    for seed in (1, 2):
        shared["draws"].memo.clear()
        torch.manual_seed(seed)
        values.append(shared["draws"]())
        states.append(torch.random.get_rng_state())
    assert torch.equal(values[0], values[1]), "the values depend on the random state before"
    assert torch.equal(states[0], states[1]), "the state it leaves depends on the one before"
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    assert torch.equal(shared["constant"](), torch.ones(3))
    assert torch.equal(torch.rand(2), expected), "a computation that drew nothing changed the state"


def _parent_pids(outcome, step: str) -> set[str]:
    messages = [t["metadata"].get("message", "") for t in outcome.tests if step_of(t["nodeid"].split("::")[0]).id == step]
    return {pid for message in messages for pid in re.findall(r"worker of process (\d+)", message)}


def _assert_every_check_passed(outcome, steps):
    passed = {t["nodeid"] for t in outcome.tests if t["outcome"] == "passed"}
    for step in steps:
        expected = {c["nodeid"] for c in outcome.collected if c["step"] == step and not c["twin_of"]}
        assert expected and expected <= passed, f"step {step} lost checks"


def test_a_lone_judge_checks_its_last_steps_in_a_partner(tmp_path):
    """Each worker names the process that started it: the first steps' is the
    judge, the last steps' another, and every other step keeps its points."""
    raising = "\n\nimport os as _os\n\nraise RuntimeError(f'worker of process {_os.getppid()}')\n"
    folder = make_submission(tmp_path / "sub")
    for step in ("01", "12"):
        path = folder / f"step_{step}.py"
        path.write_text(path.read_text() + raising)
    outcome = runner.judge(folder, steps=["01", "02", "11", "12"], limits=QUICK_LIMITS)
    first, last = _parent_pids(outcome, "01"), _parent_pids(outcome, "12")
    assert len(first) == 1 and len(last) == 1 and first != last, (first, last)
    _assert_every_check_passed(outcome, ("02", "11"))


def test_a_partner_that_dies_costs_only_its_step(tmp_path, monkeypatch):
    """With nothing to stop it, step 12 kills the process that started its
    worker, the partner: its checks are graded again by a new judge, and
    the step that killed twice loses its remaining checks, as in one judge."""
    monkeypatch.setenv("GRADING_LANDLOCK", "0")
    monkeypatch.setenv("GRADING_SECCOMP", "0")
    monkeypatch.setattr(runner, "grader_files_state", lambda: {})  # see test_adversarial: others may edit the tree
    folder = make_submission(tmp_path / "sub")
    path = folder / "step_12.py"
    path.write_text(
        path.read_text()
        + "\n\nimport os as _os\nimport signal as _signal\n\n_next = generate_next_token\n\n\n"
        + "def generate_next_token(*args, **kwargs):\n    _os.kill(_os.getppid(), _signal.SIGKILL)\n    return _next(*args, **kwargs)\n"
    )
    outcome = runner.judge(folder, steps=["10", "11", "12"], limits=QUICK_LIMITS)
    assert "step 12" in outcome.stopped_steps.get("12", ""), outcome.stopped_steps
    assert set(outcome.stopped_steps) == {"12"}
    _assert_every_check_passed(outcome, ("10", "11"))
