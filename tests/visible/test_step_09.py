"""Visible checks for step 09: run them with `python -m grading check 9`."""

import math

import pytest
import torch
import torch.nn.functional as F

from grading.engine.checks import assert_close, check, describe, expect, fail

# n_inner is 3 * n_embd here, not 4 *: the MLP's width must come from the config.
CONFIG = {"vocab_size": 11, "n_positions": 8, "n_embd": 16, "n_layer": 1, "n_head": 2, "n_inner": 48}
C, INNER = CONFIG["n_embd"], CONFIG["n_inner"]
SUBMODULES = {"ln_1": "a LayerNorm", "attn": "a GPT2MultiHeadAttention", "ln_2": "a LayerNorm", "mlp": "a GPT2MLP"}
C_PROJ = ("attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")


def block_shapes(n_embd: int, n_inner: int, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """Every entry of GPT-2's block state dict and its shape (Linear weights are (out, in))."""
    shapes = {
        "ln_1.weight": (n_embd,),
        "ln_1.bias": (n_embd,),
        "attn.c_attn.weight": (3 * n_embd, n_embd),
        "attn.c_attn.bias": (3 * n_embd,),
        "attn.c_proj.weight": (n_embd, n_embd),
        "attn.c_proj.bias": (n_embd,),
        "ln_2.weight": (n_embd,),
        "ln_2.bias": (n_embd,),
        "mlp.c_fc.weight": (n_inner, n_embd),
        "mlp.c_fc.bias": (n_inner,),
        "mlp.c_proj.weight": (n_embd, n_inner),
        "mlp.c_proj.bias": (n_embd,),
    }
    return {prefix + name: shape for name, shape in shapes.items()}


EXPECTED_SHAPES = block_shapes(C, INNER)


def random_block_state(gen: torch.Generator, shapes=EXPECTED_SHAPES) -> dict[str, torch.Tensor]:
    """Random weights for a block: LayerNorm weights near 1, the rest scaled by fan-in."""
    state = {}
    for name, shape in shapes.items():
        if len(shape) == 2:
            state[name] = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight"):
            state[name] = 1 + 0.5 * torch.randn(shape, generator=gen)
        else:
            state[name] = 0.5 * torch.randn(shape, generator=gen)
    return state


# -- probes: they run in the worker, `step` is the submission's step_09 ------------


def block_structure(step, config_kwargs):
    """What GPT2Block(config) holds, as plain data."""
    import torch
    from step_01 import GPT2Config

    from grading.engine.probes import saved_weights

    cls = getattr(step, "GPT2Block", None)
    if not isinstance(cls, type):
        return {"exists": False}
    block = cls(GPT2Config(**config_kwargs))
    if not isinstance(block, torch.nn.Module):
        return {"exists": True, "is_module": False}
    children = {name: getattr(block, name, None) for name in ("ln_1", "attn", "ln_2", "mlp")}
    return {
        "exists": True,
        "is_module": True,
        "children": {name: None if child is None else type(child).__name__ for name, child in children.items()},
        "modules": {name: isinstance(child, torch.nn.Module) for name, child in children.items()},
        "state_dict": saved_weights(block),
    }



def block_outputs(step, runs):
    """Runs the submission's GPT2Block as it builds it (on the earlier steps
    the worker gives it), once per run: a dict with ``config`` (GPT2Config
    keywords), ``state_dict`` and ``inputs``.
    Returns ``{"outputs": [[out, ...], ...], "changed": [[bool, ...], ...]}``
    (``changed``: forward modified its input) or ``{"missing": message}``."""
    import torch
    from step_01 import GPT2Config

    from grading.engine.probes import load_weights

    outputs, changed = [], []
    for run in runs:
        block = step.GPT2Block(GPT2Config(**run["config"]))
        problem = load_weights("GPT2Block", block, run["state_dict"])
        if problem:
            return {"missing": problem}
        block.eval()
        outs, flags = [], []
        with torch.no_grad():
            for x in run["inputs"]:
                x_in = x.clone()
                outs.append(block(x_in))
                flags.append(not torch.equal(x_in, x))
        outputs.append(outs)
        changed.append(flags)
    return {"outputs": outputs, "changed": changed}


def _result(result):
    if "missing" in result:
        fail(result["missing"])
    return result


# -- checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure(student):
    return student.call(block_structure, CONFIG)


@pytest.fixture(scope="module")
def outputs(student):
    gen = torch.Generator().manual_seed(9)
    state = random_block_state(gen)
    identity = dict(state) | {name: torch.zeros(EXPECTED_SHAPES[name]) for name in C_PROJ}
    x = torch.randn(2, 5, C, generator=gen)
    x_later_changed = x.clone()
    x_later_changed[:, -1] = torch.randn(2, C, generator=gen)
    runs = [
        {"config": CONFIG, "state_dict": state, "inputs": [x, x_later_changed]},
        {"config": CONFIG, "state_dict": identity, "inputs": [x]},
    ]
    return {"x": x, "state": state, "result": student.call(block_outputs, runs)}


@check(
    "GPT2Block has ln_1, attn, ln_2 and mlp",
    hint="In __init__: ln_1 and ln_2 are LayerNorm(n_embd) (step 03), attn is GPT2MultiHeadAttention(config) "
    "(step 07), mlp is GPT2MLP(config.n_inner, config) (step 04).",
)
def test_submodules(structure):
    expect(structure["exists"], "step_09.py does not define a class named GPT2Block")
    expect(structure["is_module"], "GPT2Block is not an nn.Module: it should subclass nn.Module")
    for name, what in SUBMODULES.items():
        expect(structure["children"][name] is not None, f"GPT2Block has no attribute {name} yet (or it is None)")
        expect(structure["modules"][name], f"{name} is a {structure['children'][name]}, but it should be {what} module")


@check(
    "its weights have exactly the names and shapes of Hugging Face's GPT2Block",
    hint="Use the names ln_1, attn, ln_2, mlp, and build the MLP with config.n_inner (here 3 * n_embd), "
    "not a hard-coded 4 * n_embd.",
)
def test_state_dict(structure):
    expect(structure["exists"], "step_09.py does not define a class named GPT2Block")
    expect(structure["is_module"], "GPT2Block is not an nn.Module: it should subclass nn.Module")
    have = {name: tuple(shape) for name, shape in structure["state_dict"].items()}
    missing = [name for name in EXPECTED_SHAPES if name not in have]
    expect(not missing, f"GPT2Block has no {', '.join(missing)} (its state dict holds {sorted(have) or 'nothing'})")
    for name, shape in EXPECTED_SHAPES.items():
        expect(have[name] == shape, f"with n_embd={C} and n_inner={INNER}, {name} has shape {have[name]} but {shape} was expected")
    extra = sorted(set(have) - set(EXPECTED_SHAPES))
    expect(not extra, f"GPT2Block's state dict also holds {extra}; GPT-2's block has no such weights")


@check(
    "forward returns (B, T, n_embd) float32 vectors",
    hint="Both sublayers keep the shape (B, T, n_embd), and so do the two additions.",
)
def test_output_shape(outputs):
    assert_close(  # shape and dtype only: any finite values pass
        _result(outputs["result"])["outputs"][0][0],
        torch.zeros(2, 5, C),
        what="GPT2Block's output for hidden_states of shape (2, 5, 16)",
        hint_shape="a block keeps the shape of its input, (batch, tokens, n_embd)",
        atol=math.inf,
    )


@check(
    "known answer: with both c_proj layers zeroed, the block returns its input unchanged",
    hint="When both sublayers output zeros, x + attn(ln_1(x)) and then x + mlp(ln_2(x)) leave x as it is. "
    "Add each sublayer's output to x; do not normalize the sum.",
)
def test_identity(outputs):
    got, x, state = _result(outputs["result"])["outputs"][1][0], outputs["x"], outputs["state"]
    try:
        assert_close(got, x, what="GPT2Block's output when attn and mlp output zeros")
    except AssertionError as failure:
        def ln(name, h):
            return F.layer_norm(h, (C,), state[f"{name}.weight"], state[f"{name}.bias"], eps=1e-5)

        mistakes = {
            "ln_2(ln_1(x)): the sums are normalized (post-norm), or the sublayers' outputs are added to the "
            "normalized x instead of to x": ln("ln_2", ln("ln_1", x)),
            "zeros: the sublayers' outputs replace x instead of being added to it": torch.zeros_like(x),
        }
        for mistake, variant in mistakes.items():
            if isinstance(got, torch.Tensor) and got.shape == x.shape and torch.allclose(got, variant, atol=1e-4):
                fail(f"{failure}. Your output is {mistake}")
        raise


@check(
    "a token's output does not depend on the tokens after it",
    hint="Use step 07's causal attention as self.attn, and call it on the whole sequence at once.",
)
def test_causal(outputs):
    result = _result(outputs["result"])
    first, changed = result["outputs"][0]
    for out in (first, changed):
        expect(
            isinstance(out, torch.Tensor) and out.shape == (2, 5, C),
            f"GPT2Block returned {describe(out)} for an input of shape (2, 5, {C})",
        )
    assert_close(
        changed[:, :-1],
        first[:, :-1],
        what="GPT2Block's output for the first 4 tokens after the 5th token was changed",
    )
