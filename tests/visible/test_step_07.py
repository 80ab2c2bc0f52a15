"""Visible checks for step 07: run them with `python -m grading check 7`."""

import math

import pytest
import torch

from grading.engine.checks import assert_close, check, expect, fail

CONFIG = {"vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 2, "n_inner": 32}
C = CONFIG["n_embd"]
EXPECTED_SHAPES = {
    "c_attn.weight": (3 * C, C),
    "c_attn.bias": (3 * C,),
    "c_proj.weight": (C, C),
    "c_proj.bias": (C,),
}

# The known answer: 3 tokens, n_embd = 4, 2 heads of 2 numbers, every weight
# an identity and every bias 0, so q = k = v = the input and c_proj changes
# nothing. Worked out by hand in step_07.md.
KNOWN_CONFIG = {"vocab_size": 11, "n_positions": 8, "n_embd": 4, "n_layer": 1, "n_head": 2, "n_inner": 16}
KNOWN_STATE = {
    "c_attn.weight": torch.eye(4).repeat(3, 1),  # (12, 4): q, k and v are each the identity
    "c_attn.bias": torch.zeros(12),
    "c_proj.weight": torch.eye(4),
    "c_proj.bias": torch.zeros(4),
}
KNOWN_INPUT = torch.tensor([[[1.0, 0.0, 0.0, 2.0], [0.0, 1.0, 2.0, 0.0], [1.0, 1.0, 0.0, 1.0]]])  # (1, 3, 4)


def known_answer() -> torch.Tensor:
    """Causal attention on KNOWN_INPUT, written out loop by loop."""
    x = KNOWN_INPUT[0].tolist()
    out = [[0.0] * 4 for _ in x]
    for h in range(2):  # head h owns numbers 2h and 2h + 1
        cols = (2 * h, 2 * h + 1)
        for i in range(3):
            scores = [sum(x[i][c] * x[j][c] for c in cols) / math.sqrt(2) for j in range(i + 1)]  # j <= i only
            weights = [math.exp(s) for s in scores]
            total = sum(weights)
            for c in cols:
                out[i][c] = sum(w / total * x[j][c] for j, w in enumerate(weights))
    return torch.tensor([out])


# -- probes: they run in the worker, `step` is the submission's step_07 ------------


def attention_structure(step, config_kwargs):
    """What GPT2MultiHeadAttention(config) holds, as plain data."""
    import torch
    from step_01 import GPT2Config

    cls = getattr(step, "GPT2MultiHeadAttention", None)
    if not isinstance(cls, type):
        return {"exists": False}
    module = cls(GPT2Config(**config_kwargs))
    if not isinstance(module, torch.nn.Module):
        return {"exists": True, "is_module": False}
    layers = {name: getattr(module, name, None) for name in ("c_attn", "c_proj")}
    state = module.state_dict()
    buffers = dict(module.named_buffers())
    n = config_kwargs["n_positions"]
    return {
        "exists": True,
        "is_module": True,
        "layers": {name: None if layer is None else type(layer).__name__ for name, layer in layers.items()},
        "linear": {name: isinstance(layer, torch.nn.Linear) for name, layer in layers.items()},
        "state_dict": {name: list(value.shape) for name, value in state.items() if name not in buffers},
        "saved_buffers": {
            name: {"shape": list(value.shape), "openai": _as_in_openai_checkpoint(name, value, n)}
            for name, value in state.items()
            if name in buffers
        },
        "trainable": {name: p.requires_grad for name, p in module.named_parameters()},
    }


def _as_in_openai_checkpoint(name, value, n_positions) -> bool:
    """Whether a saved buffer is one OpenAI's GPT-2 checkpoint holds in each
    attention: ``bias``, the causal mask as lower-triangular ones of shape
    (1, 1, n_positions, n_positions), or ``masked_bias``, the scalar -1e4."""
    import torch

    if name == "bias" and tuple(value.shape) == (1, 1, n_positions, n_positions):
        return torch.equal(value.detach().float(), torch.ones(n_positions, n_positions).tril().view(1, 1, n_positions, n_positions))
    if name == "masked_bias" and value.numel() == 1:
        return float(value) == -1e4
    return False


def attention_outputs(step, runs):
    """Runs GPT2MultiHeadAttention once per run, each a dict with ``config``
    (GPT2Config keywords), ``state_dict``, ``inputs`` (a list of tensors) and
    ``double`` (run in float64). Returns ``{"outputs": [[out, ...], ...]}``,
    or ``{"missing": message}`` when the state dict does not fit."""
    import torch
    from step_01 import GPT2Config

    from grading.engine.probes import load_weights

    outputs = []
    for run in runs:
        module = step.GPT2MultiHeadAttention(GPT2Config(**run["config"]))
        problem = load_weights(
            "GPT2MultiHeadAttention", module, run["state_dict"], empty="create c_attn and c_proj in __init__ (TODOs 1 and 2)"
        )
        if problem:
            return {"missing": problem}
        if run.get("double"):
            module = module.double()
        module.eval()
        with torch.no_grad():
            outputs.append([module(x) for x in run["inputs"]])
    return {"outputs": outputs}


def _shape_only(value):
    """Zeros of the same shape and dtype, so that a comparison checks only those."""
    return torch.zeros_like(value) if isinstance(value, torch.Tensor) else value


# -- checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure(student):
    return student.call(attention_structure, CONFIG)


@pytest.fixture(scope="module")
def outputs(student):
    gen = torch.Generator().manual_seed(7)
    state = {name: torch.randn(shape, generator=gen) / math.sqrt(C) for name, shape in EXPECTED_SHAPES.items()}
    runs = [
        {"config": KNOWN_CONFIG, "state_dict": KNOWN_STATE, "inputs": [KNOWN_INPUT]},
        {"config": CONFIG, "state_dict": state, "inputs": [torch.randn(2, 5, C, generator=gen)]},
    ]
    result = student.call(attention_outputs, runs)
    if "missing" in result:
        return result
    return {"known": result["outputs"][0][0], "B2-T5": result["outputs"][1][0]}


def _output(outputs, case):
    if "missing" in outputs:
        fail(outputs["missing"])
    return outputs[case]


@check(
    "GPT2MultiHeadAttention has the layers c_attn and c_proj, both nn.Linear",
    hint="In __init__: self.c_attn = nn.Linear(n_embd, 3 * n_embd) and self.c_proj = nn.Linear(n_embd, n_embd).",
)
def test_layers(structure):
    expect(structure["exists"], "step_07.py does not define a class named GPT2MultiHeadAttention")
    expect(structure["is_module"], "GPT2MultiHeadAttention is not an nn.Module: it should subclass nn.Module")
    for name in ("c_attn", "c_proj"):
        expect(structure["layers"][name] is not None, f"GPT2MultiHeadAttention has no attribute {name} yet (or it is None)")
        expect(structure["linear"][name], f"{name} is a {structure['layers'][name]}, but it should be an nn.Linear")


@check(
    "its weights have exactly the names and shapes of GPT-2's attention",
    hint="c_attn maps n_embd to 3 * n_embd (q, k, v), c_proj maps n_embd to n_embd, both with a bias. "
    "Build the mask in forward with step 02's causal_mask, or keep it in a buffer with persistent=False.",
)
def test_state_dict(structure):
    expect(structure["exists"], "step_07.py does not define a class named GPT2MultiHeadAttention")
    expect(structure["is_module"], "GPT2MultiHeadAttention is not an nn.Module: it should subclass nn.Module")
    have = {name: tuple(shape) for name, shape in structure["state_dict"].items()}
    missing = [name for name in EXPECTED_SHAPES if name not in have]
    expect(
        not missing,
        f"GPT2MultiHeadAttention has no {', '.join(missing)} (its state dict holds {sorted(have) or 'nothing'})",
    )
    for name, shape in EXPECTED_SHAPES.items():
        expect(
            have[name] == shape,
            f"with n_embd={C}, {name} has shape {have[name]} but {shape} was expected",
        )
    extra = sorted(set(have) - set(EXPECTED_SHAPES))
    expect(not extra, f"GPT2MultiHeadAttention has the parameters {extra} too; GPT-2's attention has no such weights")
    saved = sorted(name for name, buffer in structure["saved_buffers"].items() if not buffer["openai"])
    expect(
        not saved,
        f"GPT2MultiHeadAttention's state dict also holds the buffer {', '.join(saved)}, which GPT-2's weights do not "
        "have: a state dict saved from your model then does not load into transformers' GPT2Attention "
        "(load_state_dict calls it an unexpected key). Register the mask with persistent=False, or build it in forward "
        "with step 02's causal_mask. (The one saved mask GPT-2 knows, OpenAI's checkpoint's bias of lower-triangular ones "
        "with shape (1, 1, n_positions, n_positions), is accepted.)",
    )
    frozen = [name for name, trainable in structure["trainable"].items() if not trainable]
    expect(not frozen, f"{frozen} do not require gradients, so GPT-2 could never learn them")


@check(
    "forward returns (B, T, n_embd) float32 vectors",
    hint="Split the heads apart for attention, then put them side by side again and apply c_proj: (B, T, n_embd) in and out.",
)
def test_output_shape(outputs):
    assert_close(  # shape and dtype only
        _shape_only(_output(outputs, "B2-T5")),
        torch.zeros(2, 5, C),
        what="GPT2MultiHeadAttention's output for hidden_states of shape (2, 5, 8)",
        hint_shape="attention keeps the shape of its input, (batch, tokens, n_embd)",
    )


@check(
    "known answer: 3 tokens, 2 heads, identity weights (worked out in step_07.md)",
    hint="Scores q·k / sqrt(head_dim), the causal mask added before the softmax over the keys (dim=-1), then weights @ v.",
)
def test_known_answer(outputs):
    assert_close(
        _output(outputs, "known"),
        known_answer(),
        what="GPT2MultiHeadAttention's output on the worked example of step_07.md",
        hint_shape="attention keeps the shape of its input, (batch, tokens, n_embd)",
    )
