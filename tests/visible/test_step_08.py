"""Visible checks for step 08: run them with `python -m grading check 8`."""

import math

import pytest
import torch
import torch.nn.functional as F

from grading.engine.checks import assert_close, check, expect, fail

DIM = 8

# Small numbers that are easy to recognise in a message.
KNOWN_X = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
KNOWN_SUB = torch.tensor([[[0.5, -1.0], [2.0, 0.0]]])  # (1, 2, 2)
KNOWN_SUM = torch.tensor([[[1.5, 1.0], [5.0, 4.0]]])

_gen = torch.Generator().manual_seed(8)
SHAPE_X = torch.randn(2, 3, DIM, generator=_gen)
SHAPE_SUB = torch.randn(2, 3, DIM, generator=_gen)
SUBLAYER_W = torch.randn(DIM, DIM, generator=_gen) / math.sqrt(DIM)  # the "sublayer" is x @ W


# -- probes: they run in the worker, `step` is the submission's step_08 ------------


def residual_structure(step, dim, eps):
    """What ResidualBlock(dim, eps) holds, as plain data."""
    import torch

    cls = getattr(step, "ResidualBlock", None)
    if not isinstance(cls, type):
        return {"exists": False}
    block = cls(dim) if eps is None else cls(dim, eps=eps)
    ln = getattr(block, "ln", None)
    return {
        "exists": True,
        "is_module": isinstance(block, torch.nn.Module),
        "ln": type(ln).__name__ if ln is not None else None,
        "ln_is_module": isinstance(ln, torch.nn.Module),
        "parameters": {name: list(p.shape) for name, p in block.named_parameters()}
        if isinstance(block, torch.nn.Module)
        else {},
    }


def residual_outputs(step, pairs):
    """``apply_residual_connection`` on each (x, sublayer_output) pair, and
    whether it changed the tensors it was given."""
    import torch

    applied, changed = [], []
    for x, sub in pairs:
        x_in, sub_in = x.clone(), sub.clone()
        applied.append(step.apply_residual_connection(x_in, sub_in))
        changed.append(not (torch.equal(x_in, x) and torch.equal(sub_in, sub)))
    return {"applied": applied, "changed": changed}


def block_outputs(step, block_cases):
    """``ResidualBlock`` used the GPT-2 way on each block case.

    A block case is (dim, eps or None, ln_state or None, x, sublayer_output, w):
    the probe returns ``block(x, sublayer_output)``, whether that changed its
    inputs, and the pre-norm sum ``block(x, block.ln(x) @ w)``."""
    import torch

    from grading.engine.probes import load_weights

    forwards, prenorms, changed = [], [], []
    for dim, eps, ln_state, x, sub, w in block_cases:
        block = step.ResidualBlock(dim) if eps is None else step.ResidualBlock(dim, eps=eps)
        if not isinstance(getattr(block, "ln", None), torch.nn.Module):
            return {"missing": "ResidualBlock has no pre-norm module ln yet (TODO 2)"}
        problem = load_weights("ResidualBlock's ln", block.ln, ln_state, empty="it needs weight and bias") if ln_state else ""
        if problem:
            return {"missing": problem}
        with torch.no_grad():
            x_in, sub_in = x.clone(), sub.clone()
            forwards.append(block(x_in, sub_in))
            changed.append(not (torch.equal(x_in, x) and torch.equal(sub_in, sub)))
            x_in = x.clone()
            prenorms.append(block(x_in, block.ln(x_in) @ w))
    return {"forwards": forwards, "prenorms": prenorms, "changed": changed}


def block_result(result, key):
    if "missing" in result:
        fail(result["missing"])
    return result[key]


# -- checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure(student):
    return student.call(residual_structure, DIM, None)


@pytest.fixture(scope="module")
def outputs(student):
    return student.call(residual_outputs, [(KNOWN_X, KNOWN_SUB), (SHAPE_X, SHAPE_SUB)])


@pytest.fixture(scope="module")
def blocks(student):
    return student.call(block_outputs, [(DIM, None, None, SHAPE_X, SHAPE_SUB, SUBLAYER_W)])


@check(
    "apply_residual_connection adds the sublayer's output to its input",
    hint="A residual connection is one addition: return input_tensor + sublayer_output.",
)
def test_known_answer(outputs):
    assert_close(
        outputs["applied"][0],
        KNOWN_SUM,
        what="apply_residual_connection([[[1, 2], [3, 4]]], [[[0.5, -1], [2, 0]]])",
    )


@check(
    "apply_residual_connection returns a (B, T, C) float32 tensor",
    hint="Adding two tensors of the same shape keeps that shape and dtype.",
)
def test_shape(outputs):
    assert_close(  # shape and dtype only: any finite values pass
        outputs["applied"][1],
        torch.zeros(2, 3, DIM),
        what="apply_residual_connection's result for inputs of shape (2, 3, 8)",
        atol=math.inf,
    )


@check(
    "ResidualBlock holds its pre-norm ln, a LayerNorm(dim)",
    hint="In __init__, after super().__init__(), set self.ln = LayerNorm(dim, eps=eps) (from step_03).",
)
def test_has_ln(structure):
    expect(structure["exists"], "step_08.py does not define a class named ResidualBlock")
    expect(structure["is_module"], "ResidualBlock is not an nn.Module: it should subclass nn.Module")
    expect(structure["ln"] is not None, "ResidualBlock has no attribute ln yet (or it is None)")
    expect(structure["ln_is_module"], f"ln is a {structure['ln']}, but it should be a LayerNorm module")
    params = structure["parameters"]
    wanted = {"ln.weight": [DIM], "ln.bias": [DIM]}
    expect(
        params == wanted,
        f"ResidualBlock({DIM})'s parameters are {params or 'none'}, but {wanted} was expected: only ln's weight and bias",
    )


@check(
    "ResidualBlock.forward(x, sublayer_output) returns x + sublayer_output",
    hint="forward only adds: the caller has already applied block.ln to the sublayer's input.",
)
def test_forward(blocks):
    got = block_result(blocks, "forwards")[0]
    try:
        assert_close(
            got,
            SHAPE_X + SHAPE_SUB,
            what="ResidualBlock(8)(x, sublayer_output) for random x and sublayer_output of shape (2, 3, 8)",
        )
    except AssertionError as failure:
        explain(failure, got, SHAPE_X, SHAPE_SUB)


@check(
    "block(x, sublayer(block.ln(x))) computes GPT-2's pre-norm x + sublayer(ln(x))",
    hint="ln normalizes the sublayer's input only; the sum x + sublayer_output is not normalized.",
)
def test_prenorm(blocks):
    got = block_result(blocks, "prenorms")[0]
    sub = F.layer_norm(SHAPE_X, (DIM,), eps=1e-5) @ SUBLAYER_W
    try:
        assert_close(got, SHAPE_X + sub, what="block(x, sublayer(block.ln(x))) with a linear sublayer")
    except AssertionError as failure:
        explain(failure, got, SHAPE_X, sub)


def explain(failure, got, x, sub):
    """Re-raise ``failure``, naming the known mistake ``got`` matches, if any."""
    mistakes = {
        "ln(x + sublayer_output), a post-norm: GPT-2 only normalizes the sublayer's input": F.layer_norm(
            x + sub, (DIM,), eps=1e-5
        ),
        "ln(x) + sublayer_output: the residual is x itself, not normalized": F.layer_norm(x, (DIM,), eps=1e-5) + sub,
        "sublayer_output alone: the residual x was not added": sub,
    }
    for mistake, variant in mistakes.items():
        if isinstance(got, torch.Tensor) and got.shape == variant.shape and torch.allclose(got, variant, atol=1e-4):
            fail(f"{failure}. Your output matches {mistake}")
    raise failure
