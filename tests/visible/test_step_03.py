"""Visible checks for step 03: run them with `python -m grading check 3`."""

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail

DIM = 8


def layer_norm_facts(step, dim):
    """Runs in the worker: what a fresh LayerNorm(dim) holds, as data."""
    from torch import nn

    cls = getattr(step, "LayerNorm", None)
    facts = {"exists": isinstance(cls, type), "is_module": isinstance(cls, type) and issubclass(cls, nn.Module)}
    if not facts["is_module"]:
        return facts
    ln = cls(dim)
    facts["parameters"] = {name: tuple(p.shape) for name, p in ln.named_parameters()}
    facts["state_dict"] = {name: tuple(t.shape) for name, t in ln.state_dict().items()}
    facts["weight"] = ln.weight.detach().clone() if isinstance(getattr(ln, "weight", None), torch.Tensor) else None
    facts["bias"] = ln.bias.detach().clone() if isinstance(getattr(ln, "bias", None), torch.Tensor) else None
    return facts


def layer_norm_outputs(step, cases):
    """Runs in the worker: for each case build LayerNorm(dim) (with `eps=` when
    the case gives one), load its state dict when given, and run forward on its
    input. Returns {case id: output}."""
    outputs = {}
    for case, c in cases.items():
        ln = step.LayerNorm(c["dim"]) if c.get("eps") is None else step.LayerNorm(c["dim"], eps=c["eps"])
        if c.get("state_dict") is not None:
            ln.load_state_dict(c["state_dict"])
        with torch.no_grad():
            outputs[case] = ln(c["input"])
    return outputs


# The guide's example: one 4-vector with the starting weight (ones) and bias (zeros).
KNOWN_INPUT = torch.tensor([1.0, 2.0, 3.0, 4.0])
KNOWN_OUTPUT = (KNOWN_INPUT - 2.5) / torch.sqrt(torch.tensor(1.25 + 1e-5))  # about [-1.342, -0.447, 0.447, 1.342]

CASES = {
    "known": {"dim": 4, "input": KNOWN_INPUT},
    "B2-T3": {"dim": DIM, "input": torch.randn(2, 3, DIM, generator=torch.Generator().manual_seed(0))},
}


@pytest.fixture(scope="module")
def facts(student):
    return student.call(layer_norm_facts, DIM)


@pytest.fixture(scope="module")
def outputs(student):
    return student.call(layer_norm_outputs, CASES)


@check(
    "LayerNorm(8) has parameters weight and bias of shape (8,)",
    hint="Make them with nn.Parameter(torch.ones(dim)) and nn.Parameter(torch.zeros(dim)), so that they are learned and saved.",
    weight=2,
)
def test_parameters(facts):
    expect(facts["exists"], "step_03.py does not define a class named LayerNorm")
    expect(facts["is_module"], "LayerNorm should be a subclass of nn.Module")
    params = facts["parameters"]
    for name in ("weight", "bias"):
        expect(name in params, f"LayerNorm(8) has no parameter named {name}: its parameters are {sorted(params) or 'none'}")
        expect(params[name] == (DIM,), f"LayerNorm(8).{name} has shape {params[name]}, but (8,) was expected")
    extra = sorted(set(facts["state_dict"]) - {"weight", "bias"})
    expect(not extra, f"LayerNorm(8) saves more than weight and bias: {extra}; pretrained GPT-2 weights have only those two")


@check(
    "weight starts at ones and bias at zeros",
    hint="A fresh layer norm must not change the normalized vector: weight = 1, bias = 0.",
)
def test_initial_values(facts):
    if not facts.get("is_module") or facts.get("weight") is None or facts.get("bias") is None:
        fail("LayerNorm(8) has no weight or bias tensor to look at yet")
    expect(bool(torch.all(facts["weight"] == 1)), f"LayerNorm(8).weight should start as ones, but it is {[round(v, 4) for v in facts['weight'].tolist()]}")
    expect(bool(torch.all(facts["bias"] == 0)), f"LayerNorm(8).bias should start as zeros, but it is {[round(v, 4) for v in facts['bias'].tolist()]}")


@check(
    "LayerNorm keeps the input's shape (2, 3, 8) and dtype float32",
    hint="Normalize over the last dimension only (dim=-1, keepdim=True), so the statistics broadcast back over the input.",
)
def test_shape(outputs):
    got = outputs["B2-T3"]
    if not isinstance(got, torch.Tensor):
        fail(f"LayerNorm(8)(x) should return a tensor of shape (2, 3, 8), but it returned {describe(got)}")
    expect(tuple(got.shape) == (2, 3, DIM), f"LayerNorm(8)(x) returned shape {tuple(got.shape)} for an input of shape (2, 3, 8)")
    expect(got.dtype == torch.float32, f"LayerNorm(8)(x) returned dtype {str(got.dtype).replace('torch.', '')} for a float32 input")


@check(
    "LayerNorm(4) turns [1, 2, 3, 4] into [-1.342, -0.447, 0.447, 1.342]",
    hint="Subtract the mean, divide by sqrt(variance + eps) with the biased variance (divide by dim, not dim - 1), then * weight + bias.",
    weight=2,
)
def test_known_answer(outputs):
    assert_close(outputs["known"], KNOWN_OUTPUT, what="LayerNorm(4)([1, 2, 3, 4])")
