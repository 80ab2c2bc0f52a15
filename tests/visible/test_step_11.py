"""Visible checks for step 11: run them with `python -m grading check 11`."""

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail, manual_seed

CONFIG = {"vocab_size": 53, "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 128}
V, E = CONFIG["vocab_size"], CONFIG["n_embd"]
SHAPES = {"B2-T5": (2, 5), "B1-T1": (1, 1)}


# -- probes: they run in the worker, `step` is the submission's step_11 ------------


def head_structure(step, config_kwargs):
    """What GPT2LMHeadModel(config) holds, as plain data."""
    import step_10
    import torch
    from step_01 import GPT2Config

    cls = getattr(step, "GPT2LMHeadModel", None)
    if not isinstance(cls, type):
        return {"exists": False}
    model = cls(GPT2Config(**config_kwargs))
    transformer = getattr(model, "transformer", None)
    lm_head = getattr(model, "lm_head", None)
    head_weight = getattr(lm_head, "weight", None)
    wte_weight = getattr(getattr(transformer, "wte", None), "weight", None)
    both = isinstance(head_weight, torch.Tensor) and isinstance(wte_weight, torch.Tensor)
    return {
        "exists": True,
        "transformer": type(transformer).__name__,
        "transformer_is_gpt2model": isinstance(transformer, step_10.GPT2Model),
        "lm_head": type(lm_head).__name__,
        "lm_head_is_linear": isinstance(lm_head, torch.nn.Linear),
        "in_features": getattr(lm_head, "in_features", None),
        "out_features": getattr(lm_head, "out_features", None),
        "has_bias": getattr(lm_head, "bias", None) is not None,
        "head_shape": list(head_weight.shape) if isinstance(head_weight, torch.Tensor) else None,
        "both_exist": both,
        "same_parameter": both and head_weight is wte_weight,
        "same_storage": both and head_weight.data_ptr() == wte_weight.data_ptr(),
    }


def head_outputs(step, config_kwargs, shapes, seed):
    """Logits of a model whose every parameter is random, next to the final
    hidden states of its transformer and its embedding matrix."""
    import torch
    from step_01 import GPT2Config

    manual_seed(seed)
    model = step.GPT2LMHeadModel(GPT2Config(**config_kwargs))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    out = {"cases": {}}
    for name, (B, T) in shapes.items():
        input_ids = torch.randint(0, config_kwargs["vocab_size"], (B, T))
        with torch.no_grad():
            logits = model(input_ids)  # first, so an unfinished forward says so
            out["cases"][name] = {"logits": logits, "hidden": model.transformer(input_ids)}
    out["wte"] = model.transformer.wte.weight.detach().clone()
    return out


# -- checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure(student):
    return student.call(head_structure, CONFIG)


@pytest.fixture(scope="module")
def outputs(student):
    return student.call(head_outputs, CONFIG, SHAPES, 11)


def _exists(structure):
    expect(structure["exists"], "step_11.py does not define a class named GPT2LMHeadModel")


@check(
    "transformer is step 10's GPT2Model",
    hint="In __init__, build self.transformer from step 10's GPT2Model with the same config (TODO 1).",
)
def test_transformer(structure):
    _exists(structure)
    expect(
        structure["transformer_is_gpt2model"],
        f"self.transformer should be a GPT2Model (from step_10), but it is {structure['transformer']}",
    )


@check(
    "lm_head is nn.Linear(n_embd, vocab_size, bias=False)",
    hint="The head maps config.n_embd features to config.vocab_size scores, and GPT-2's has no bias (TODO 2).",
)
def test_lm_head(structure):
    _exists(structure)
    expect(structure["lm_head_is_linear"], f"self.lm_head should be an nn.Linear, but it is {structure['lm_head']}")
    got = (structure["in_features"], structure["out_features"])
    expect(
        got == (E, V),
        f"lm_head maps {got[0]} features to {got[1]}, but it should map n_embd = {E} to vocab_size = {V}",
    )
    expect(not structure["has_bias"], "lm_head has a bias, but GPT-2's language model head has none: use bias=False")


@check(
    "lm_head.weight is tied to transformer.wte.weight",
    hint="After creating both, assign the embedding's weight Parameter itself to lm_head.weight (TODO 3).",
)
def test_tied(structure):
    _exists(structure)
    expect(structure["both_exist"], "there is nothing to tie yet: build self.transformer and self.lm_head first (TODOs 1 and 2)")
    if structure["same_parameter"]:
        return
    if structure["same_storage"]:
        fail(
            "lm_head.weight and transformer.wte.weight share memory but are two different Parameters: "
            "assign the Parameter itself, not its .data"
        )
    fail("lm_head.weight and transformer.wte.weight are two separate matrices, but GPT-2 uses one for both")


@pytest.mark.parametrize("case", list(SHAPES))
@check("forward returns logits of shape (B, T, vocab_size)", hint="Apply lm_head to the hidden states of every position (TODO 4).")
def test_logits_shape(outputs, case):
    B, T = SHAPES[case]
    logits = outputs["cases"][case]["logits"]
    expect(
        isinstance(logits, torch.Tensor),
        f"forward should return a tensor of shape {(B, T, V)}, but it returned {describe(logits)}",
    )
    expect(
        tuple(logits.shape) == (B, T, V),
        f"for input_ids of shape {(B, T)} forward returned shape {tuple(logits.shape)}, "
        f"but {(B, T, V)} was expected: one score per vocabulary token at every position",
    )
    expect(logits.dtype == torch.float32, f"the logits have dtype {logits.dtype}, but float32 was expected")


@pytest.mark.parametrize("case", list(SHAPES))
@check(
    "logits are the final hidden states times the embedding matrix",
    hint="logits = lm_head(transformer(input_ids)); with the tied weight that is hidden @ wte.weight.T.",
)
def test_logits_values(outputs, case):
    result = outputs["cases"][case]
    hidden = result["hidden"]
    expect(isinstance(hidden, torch.Tensor), "self.transformer(input_ids) did not return a tensor")
    expected = hidden @ outputs["wte"].T  # (B, T, vocab_size)
    assert_close(result["logits"], expected, what="GPT2LMHeadModel's output", atol=1e-4, rtol=1e-4)
