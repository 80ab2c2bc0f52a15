"""Fast checks of the grading engine's parts, without starting a judge:
limits and their overrides, the results stream's validation, output capping,
workflow-command neutralizing and the integrity scan.

The end-to-end proofs (hostile submissions) are in ``test_adversarial.py``.
"""

from __future__ import annotations

import io
import json
import os
import pickle

import pytest

from grading import cli, integrity
from grading.engine import diagnosis, protocol
from grading.engine import judge as runner
from grading.report import notices
from grading.report.text import integrity_lines
from grading.config import Limits

from .conftest import fresh_python


def test_limits_defaults_env_and_cli(monkeypatch):
    assert Limits().call_timeout > 0 and Limits().step_timeout >= Limits().call_timeout
    monkeypatch.setenv("GRADING_CALL_TIMEOUT", "7")
    monkeypatch.setenv("GRADING_MEMORY_MB", "512")
    assert Limits.from_env().call_timeout == 7.0
    assert Limits.from_env().memory_mb == 512
    args = cli.build_parser().parse_args(["run", "--call-timeout", "2", "--test-timeout", "9", "--step-timeout", "11"])
    limits = cli._limits(args)
    assert (limits.call_timeout, limits.test_timeout, limits.step_timeout, limits.memory_mb) == (2.0, 9.0, 11.0, 512)
    env = runner.judge_environment(limits)
    assert env["GRADING_CALL_TIMEOUT"] == "2.0" and env["GRADING_STEP_TIMEOUT"] == "11.0"
    command = runner.judge_command(runner.GRADER_ROOT / "solutions", [], 5, limits, set())
    assert command[command.index("--timeout") + 1] == "9"


def test_judge_environment_is_allow_listed(monkeypatch):
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONINSPECT"):
        monkeypatch.setenv(name, "x")
    env = runner.judge_environment(Limits())
    assert not {k for k in env if k.startswith("PYTEST_") and k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    assert "PYTHONPATH" not in env and "PYTHONSTARTUP" not in env
    assert env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1" and env["PYTHONNOUSERSITE"] == "1"


def test_results_stream_keeps_first_collection_and_checks_types():
    run = runner.JudgeRun()
    for event in (
        {"event": "collected", "checks": [{"nodeid": "a::t1"}, {"nodeid": "a::t2"}, "junk"]},
        {"event": "collected", "checks": [{"nodeid": "a::t1"}, {"nodeid": "a::t2"}, {"nodeid": "a::forged"}]},
        {"event": "result", "test": {"nodeid": "a::t1", "outcome": "passed", "metadata": {}}},
        {"event": "result", "test": "not a dict"},
        {"event": "report", "report": {"tests": [{"nodeid": "a::t1", "outcome": "passed"}, 3]}},
    ):
        runner._take_event(run, json.dumps(event))
    runner._take_event(run, "not json")
    runner._take_event(run, "[1, 2]")
    assert [c["nodeid"] for c in run.collected] == ["a::t1", "a::t2"]
    assert [t["nodeid"] for t in run.streamed] == ["a::t1"]
    assert [t["nodeid"] for t in run.tests] == ["a::t1"] and run.finished


def test_unexpected_and_missing_checks(monkeypatch):
    """A reported check that was not collected is dropped; a collected one
    that was never reported counts as failed."""
    from grading.report import scoring

    run = runner.JudgeRun(
        collected=[{"nodeid": f"tests/visible/test_step_01.py::{name}", "step": "01", "title": name, "weight": 1.0} for name in ("test_a", "test_b")],
        tests=[
            {"nodeid": "tests/visible/test_step_01.py::test_a", "outcome": "passed", "metadata": {"weight": 1.0, "step": "01"}},
            {"nodeid": "tests/visible/test_step_01.py::test_forged", "outcome": "passed", "metadata": {"weight": 100.0, "step": "01"}},
        ],
        finished=True,
    )
    monkeypatch.setattr(runner, "run_judge", lambda *a, **k: run)
    outcome = runner.judge(runner.GRADER_ROOT / "solutions", steps=["01"], limits=Limits())
    assert [t["nodeid"] for t in outcome.tests] == ["tests/visible/test_step_01.py::test_a"]
    results = scoring.build_results(
        outcome.collected, outcome.tests, stopped_steps=outcome.stopped_steps, duration=outcome.duration, graded_with_hidden=False
    ).to_json()
    step = results["steps"][0]
    assert step["checks"] == 2 and step["checks_passed"] == 1
    missing = [t for t in results["tests"] if t["extra_data"]["nodeid"].endswith("test_b")][0]
    assert missing["status"] == "failed" and "did not run" in missing["output"]


def test_head_and_tail():
    text = "H" * 5000 + "M" * 10000 + "T" * 5000
    cut = diagnosis.head_and_tail(text, keep=1500)
    assert cut.startswith("H" * 1500) and cut.endswith("T" * 1500) and "characters cut" in cut
    assert diagnosis.head_and_tail("short") == "short"


@pytest.mark.parametrize(
    "line",
    ["::error::x", "  ::add-mask::y", "::stop-commands::t", "a\r::notice::z", "b ##[add-mask]w", "\t::warning::v"],
)
def test_neutralize(line):
    text = notices.neutralize(line)
    for part in text.replace("\r", "\n").splitlines():
        assert not part.lstrip().startswith("::") and "##[" not in part


def test_integrity_flags(tmp_path):
    (tmp_path / "step_05.py").write_text(
        "import os, sys, ctypes\nimport _pytest.runner\nfrom transformers import GPT2Model\nimport grading.engine.checks\n"
        "sys.modules['step_01'] = None\nos._exit(0)\nos.kill(os.getppid(), 9)\nopen('/etc/passwd').read()\n"
        "import torch\ntorch.allclose = lambda *a: True\n"
    )
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "x.pth").write_text("")
    flags = integrity.scan(tmp_path)
    kinds = {(f["kind"], f["file"]) for f in flags}
    assert {("import", "step_05.py"), ("sys-modules", "step_05.py"), ("exit", "step_05.py"), ("signal", "step_05.py"),
            ("file-outside", "step_05.py"), ("monkeypatch", "step_05.py"), ("planted-file", "conftest.py"),
            ("planted-file", "x.pth")} <= kinds  # fmt: skip
    assert all(set(f) == {"kind", "file", "line", "detail"} for f in flags)
    imports = " ".join(f["detail"] for f in flags if f["kind"] == "import")
    for name in ("ctypes", "_pytest", "transformers", "grading"):
        assert name in imports
    assert "Integrity flags" in integrity_lines(flags)


def test_integrity_clean_solutions_and_protected_files(tmp_path):
    assert integrity.scan(runner.GRADER_ROOT / "solutions") == []
    root = tmp_path / "repo"
    (root / "assignments").mkdir(parents=True)
    (root / "grading").mkdir()
    (root / "grading" / "checks.py").write_text("changed")
    (root / "tests" / "visible").mkdir(parents=True)
    (root / "tests" / "visible" / "conftest.py").write_text("")
    recorded = {"protected": {"grading/checks.py": "0" * 64, ".github/workflows/classroom.yml": "1" * 64}}
    flags = integrity.scan(root / "assignments", recorded)
    details = {f["file"]: f["detail"] for f in flags}
    assert details == {
        "grading/checks.py": "protected file differs from the template",
        ".github/workflows/classroom.yml": "protected file was deleted",
        "tests/visible/conftest.py": "protected file was added",
    }


def test_cli_does_not_import_torch():
    code = "import sys, grading.cli; grading.cli.build_parser(); print(sorted(m for m in ('torch', 'transformers', 'pytest') if m in sys.modules))"
    assert fresh_python(code) == "[]"


def test_regrade_starts_its_warm_grader_without_the_github_client():
    """Only the verb being run is registered: the GitHub client's libraries
    (a third of a second) would delay the regrade's warm-up."""
    code = "import sys, grading.cli; grading.cli.build_parser('regrade'); print('github' in sys.modules)"
    assert fresh_python(code) == "False"


def _through_a_request(value):
    return protocol.TensorUnpickler(io.BytesIO(protocol.encode_request(value))).load()  # as the worker reads it


def _through_a_reply(value):
    return protocol.decode_reply(protocol.encode_reply({"ok": True, "value": value}, None), "")


@pytest.mark.parametrize("send", [_through_a_request, _through_a_reply], ids=["request", "reply"])
def test_a_message_carries_its_tensors_exactly(send):
    """Storages travel as raw bytes, once each (``protocol._TensorPickler``);
    the tensor around each is still what was sent: class, dtype, shape,
    strides, offset, ``requires_grad``, and which tensors share a storage."""
    import collections

    import torch

    base = torch.randn(6, 5)
    sent = {
        "weight": torch.nn.Parameter(torch.randn(3, 4)),
        "transposed": base.t(),
        "strided": base[1:5:2, 1:],
        "ids": torch.arange(7),
        "mask": torch.tensor([True, False]),
        "half": torch.randn(3, dtype=torch.bfloat16),
        "empty": torch.empty(0, 4),
        "scalar": torch.tensor(2.5),
        "meta": torch.empty(2, 3, device="meta"),
        "grad": torch.randn(2, requires_grad=True) * 2,
        "conjugate": torch.randn(2, dtype=torch.complex64).conj(),
    }
    received = send({**sent, "facts": collections.OrderedDict(shape=torch.Size([2]), dtype=torch.float16, device=torch.device("cpu"), z=1j)})
    for name, tensor in sent.items():
        got = received[name]
        assert type(got) is type(tensor) and got.dtype == tensor.dtype and got.device == tensor.device, name
        assert (got.shape, got.stride(), got.storage_offset()) == (tensor.shape, tensor.stride(), tensor.storage_offset()), name
        assert got.requires_grad == tensor.requires_grad, name
        assert tensor.is_meta or torch.equal(got, tensor), name
    assert received["transposed"].untyped_storage().data_ptr() != base.untyped_storage().data_ptr()  # a copy, not shared memory
    assert received["transposed"].untyped_storage().data_ptr() == received["strided"].untyped_storage().data_ptr()  # still one storage
    assert received["facts"] == collections.OrderedDict(shape=torch.Size([2]), dtype=torch.float16, device=torch.device("cpu"), z=1j)
    rows = torch.randn(100, 100).unbind()
    assert len(protocol.encode_request(rows)) < 1.1 * 100 * 100 * 4  # their storage once


class _Forged:
    """Pickles as whatever ``reduce`` says: what a hostile worker could send."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def _tensor_id(shape=(4,), stride=(1,), dtype="torch.float32"):
    return ("tensor", bytes(16), dtype, shape, stride, 0, False, False)  # 16 bytes: four float32 zeros


def _forged_replies():
    """What a hostile worker could send, and why the judge refuses it."""
    import collections
    import os

    import torch

    system = _Forged(os.system, ("echo reached >&2",))
    return {
        "a-function": (system, "posix.system is not plain data"),
        "nested": ([1, {"deep": system}], "posix.system is not plain data"),
        "a-class-of-the-grader": (protocol.SandboxError("x"), "grading.engine.protocol.SandboxError is not plain data"),
        "torch's-own-pickle": (torch.zeros(2), "torch._utils._rebuild_tensor_v2 is not plain data"),
        "outside-its-storage": (_Persistent(_tensor_id(shape=(400,))), "outside its storage"),
        "negative-stride": (_Persistent(_tensor_id(stride=(-1,))), "outside its storage"),
        "not-a-dtype": (_Persistent(_tensor_id(dtype="os.system")), "os.system"),
        "tensor-hooks": (_Persistent(_tensor_id(), state=(False, None, {1: torch.Size})), "a tensor with attributes"),
        "dict-attributes": (_Forged(collections.OrderedDict, (), {"note": "x"}), "a dictionary with attributes"),
    }


class _Persistent:
    """A persistent id in a forged pickle, then a BUILD with ``state``."""

    def __init__(self, pid, state=None):
        self.pid, self.state = pid, state


class _ForgingPickler(pickle._Pickler):  # Python's own pickler: its save can be extended
    def save(self, obj, save_persistent_id=True):
        if not isinstance(obj, _Persistent):
            return super().save(obj, save_persistent_id)
        self.save_pers(obj.pid)
        if obj.state is not None:
            self.save(obj.state)
            self.write(pickle.BUILD)


def _forge(value) -> bytes:
    buffer = io.BytesIO()
    _ForgingPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump({"ok": True, "value": value})
    return buffer.getvalue()


def test_a_forged_reply_of_plain_data_is_read():
    """The forgeries below are refused for what they hold, not their form."""
    import torch

    assert torch.equal(protocol.decode_reply(_forge(_Persistent(_tensor_id())), ""), torch.zeros(4))


@pytest.mark.parametrize("name", list(_forged_replies()))
def test_a_reply_that_is_not_plain_data_is_refused(name, capfd):
    """The judge reads a reply with an unpickler that may name only the
    constructors of plain data (``protocol._PlainDataUnpickler``): whatever
    bytes a worker sends, no code of its choosing runs in the judge."""
    value, reason = _forged_replies()[name]
    with pytest.raises(protocol.SandboxError, match="could not be read as plain data") as refused:
        protocol.decode_reply(_forge(value), "")
    assert reason in str(refused.value.__context__)
    assert "reached" not in capfd.readouterr().err


def test_reply_size_is_capped():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, protocol.HEADER.pack(1 << 40))
    with pytest.raises(protocol.ReplyTooLarge):
        protocol.read_message(read_fd, None, protocol.MAX_REPLY)
    os.close(read_fd)
    os.close(write_fd)


def test_judge_death_mid_step_changes_no_max_score():
    """Weights are fixed at collection: checks a dead judge never reported
    fail but keep their share, so no points move between a step's checks."""
    from grading.report import scoring

    collected = [
        {"nodeid": f"tests/hidden/test_step_05.py::test_{i}", "step": "05", "title": f"check {i}", "weight": w}
        for i, w in enumerate((1.0, 2.0, 0.5, 1.5))
    ]
    everything = [{"nodeid": c["nodeid"], "outcome": "passed", "metadata": {}} for c in collected]

    def grade(outcomes, stopped):
        return scoring.build_results(collected, outcomes, stopped_steps=stopped, duration=0.0, graded_with_hidden=True)

    whole = grade(everything, {})
    died = grade(everything[:2], {"05": "the grader's own process was stopped"})
    assert [c.max_score for c in died.checks_of("05")] == [c.max_score for c in whole.checks_of("05")]
    assert [c.passed for c in died.checks_of("05")] == [True, True, False, False]
    assert [c.kind for c in died.checks_of("05")][2:] == ["stopped", "stopped"]
    assert died.steps[4].score == 5 * 3.0 / 5.0 and whole.steps[4].score == 5


def test_visible_checks_never_import_transformers():
    """`check` costs about one `import torch`: its judge must not pay for
    transformers (several seconds), which only the hidden checks need. (In
    this source tree, steps 09 and up stand on reference steps built on
    transformers; the student template ships no references.)"""
    outcome = runner.judge(runner.GRADER_ROOT / "solutions", include_hidden=False, steps=["01", "02", "07", "08"], limits=Limits())
    assert outcome.tests, "the visible checks did not run"
    assert outcome.loaded == [], f"a visible-only judge imported {outcome.loaded}"
    hidden = runner.judge(runner.GRADER_ROOT / "solutions", include_hidden=True, steps=["04"], limits=Limits())
    assert hidden.loaded == ["transformers"], "the guard sees nothing: the hidden checks do import transformers"


def test_a_check_and_its_twin_are_one_check():
    """A twin (the check on the student's own earlier steps) adds no weight;
    the check passes if either passed, and says so when only the twin did."""
    from grading.report import scoring

    def facts(name, weight, foundation="", twin_of=""):
        return {"nodeid": f"tests/hidden/test_step_11.py::{name}", "step": "11", "title": name.split("[")[0],
                "weight": weight, "foundation": foundation, "twin_of": twin_of}  # fmt: skip

    collected = [
        facts("a[grader-steps]", 1.0, "grader"),
        facts("a[own-steps]", 1.0, "own", "tests/hidden/test_step_11.py::a[grader-steps]"),
        facts("b[grader-steps]", 1.0, "grader"),
        facts("b[own-steps]", 1.0, "own", "tests/hidden/test_step_11.py::b[grader-steps]"),
        facts("c", 2.0),
    ]
    raised = {"message": "AttributeError: 'GPT2Model' object has no attribute 'drop' (step_11.py, line 23)", "kind": "exception"}
    outcomes = [
        {"nodeid": collected[0]["nodeid"], "outcome": "failed", "metadata": raised},
        {"nodeid": collected[1]["nodeid"], "outcome": "passed", "metadata": {}},
        {"nodeid": collected[2]["nodeid"], "outcome": "failed", "metadata": raised},
        {"nodeid": collected[3]["nodeid"], "outcome": "skipped", "metadata": {"kind": "skipped", "unready_steps": ["07"]}},
        {"nodeid": collected[4]["nodeid"], "outcome": "passed", "metadata": {}},
    ]
    results = scoring.build_results(collected, outcomes, stopped_steps={}, duration=0.0, graded_with_hidden=True)
    a, b, c = results.checks_of("11")
    assert [check.max_score for check in (a, b, c)] == [2.5, 2.5, 5.0]
    assert a.passed and a.foundation == "own" and a.title == "a (passed on your own steps 01–10)"
    assert not b.passed and b.foundation == "grader" and "step 07 not yet" in b.message
    assert c.passed and c.foundation == ""
    assert results.steps[10].score == 7.5 and results.steps[10].checks == 3

    # a twin that never reported (its judge died) changes nothing; neither does one of a passed check
    results = scoring.build_results(collected, outcomes[:1] + outcomes[4:], stopped_steps={}, duration=0.0, graded_with_hidden=True)
    assert [check.passed for check in results.checks_of("11")] == [False, False, True]


OVERLAY_SCRIPT = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
from grading.config import STEPS_BY_ID
from grading.engine import prerequisites
prerequisites.install_reference_steps(STEPS_BY_ID["09"])
out = {}
import step_01
from step_01 import GPT2Config, make_config
out["api"] = GPT2Config.__module__
out["helper"] = type(make_config(n_embd=8)).__module__  # the helper builds the reference class
from step_04 import WIDTH
out["nested"] = WIDTH
for step in ("step_05", "step_06", "step_03"):
    try:
        getattr(importlib.import_module(step), "helper")  # the module itself imports: it is the overlay
    except ImportError as error:
        out[step] = str(error)
from step_05 import GPT2Embeddings
out["api_of_broken"] = GPT2Embeddings.__module__
try:
    from step_02 import no_such_name
except ImportError as error:
    out["absent"] = type(error).__name__
print(json.dumps(out))
"""


def test_overlay_gives_the_api_of_the_reference_and_the_rest_of_the_students_file(tmp_path):
    """In a worker, `from step_01 import make_config` finds the student's helper
    (which then builds the reference GPT2Config); a broken or hanging earlier
    file turns into an ImportError naming it, and its API still works."""
    import subprocess
    import sys

    (tmp_path / "step_01.py").write_text(
        "from dataclasses import dataclass\n@dataclass\nclass GPT2Config:\n    n_embd: int = 1\n"
        "def make_config(**kw):\n    return GPT2Config(**kw)\n"
    )
    (tmp_path / "step_02.py").write_text("def causal_mask(*a, **k):\n    return None\n")
    (tmp_path / "step_04.py").write_text("from step_01 import make_config\nWIDTH = 4 * make_config().n_embd\n")
    (tmp_path / "step_05.py").write_text("raise RuntimeError('not today')\n")
    (tmp_path / "step_06.py").write_text("while True:\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-c", OVERLAY_SCRIPT, str(tmp_path)],
        cwd=runner.GRADER_ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "GRADING_CALL_TIMEOUT": "2"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["api"] == out["helper"] == "grading.reference.step_01"
    assert out["nested"] == 4 * 768  # step_04's own module saw step 01 overlaid
    assert "step_05.py" in out["step_05"] and "RuntimeError: not today" in out["step_05"] and "line 1" in out["step_05"]
    assert "step_06.py did not finish importing within 1 s" in out["step_06"]
    assert "step_03.py was not found" in out["step_03"]
    assert out["api_of_broken"] == "grading.reference.step_05"
    assert out["absent"] == "ImportError"


@pytest.mark.parametrize("n_embd, n_head, batch, tokens", [(8, 2, 2, 5), (12, 3, 3, 1), (32, 8, 1, 16)])
def test_reference_attention_and_mlp_compute_what_hugging_faces_modules_compute(n_embd, n_head, batch, tokens):
    """The step 04 and 07 references are plain torch, so that a spawned
    worker never imports transformers. Every parameter random, a batch, one
    token: they agree with Hugging Face's modules to float32 rounding (its
    ``Conv1D`` multiplies by the transposed weight), and to the last bit once
    those layers are ``nn.Linear`` holding the same weights, which is what
    the references were before: the same order of operations throughout."""
    import torch
    from transformers.models.gpt2.modeling_gpt2 import GPT2MLP, GPT2Attention

    from grading.reference import step_04, step_07
    from grading.reference.step_01 import GPT2Config
    from tests.hidden.test_step_09 import course_state_dict, hf_config, randomize_

    def output(module):
        with torch.no_grad():
            out = module(hidden_states)
        return out[0] if isinstance(out, tuple) else out  # the attention also returns its weights

    config = GPT2Config(vocab_size=11, n_positions=16, n_embd=n_embd, n_layer=1, n_head=n_head, n_inner=4 * n_embd)
    theirs_config = hf_config(vars(config))
    generator = torch.Generator().manual_seed(n_embd)
    hidden_states = torch.randn(batch, tokens, n_embd, generator=generator)
    pairs = [
        (GPT2Attention(theirs_config), step_07.GPT2MultiHeadAttention(config), ("c_attn", "c_proj")),
        (GPT2MLP(config.n_inner, theirs_config), step_04.GPT2MLP(config.n_inner, config), ("c_fc", "c_proj")),
    ]
    for theirs, ours, layers in pairs:
        randomize_(theirs, generator).eval()
        ours.load_state_dict(course_state_dict(theirs))
        torch.testing.assert_close(output(ours), output(theirs), rtol=1e-6, atol=1e-6)
        for name in layers:
            conv1d = getattr(theirs, name)
            linear = torch.nn.Linear(*conv1d.weight.shape)
            linear.load_state_dict({"weight": conv1d.weight.t(), "bias": conv1d.bias})
            setattr(theirs, name, linear)
        assert torch.equal(output(ours), output(theirs)), type(ours).__name__
