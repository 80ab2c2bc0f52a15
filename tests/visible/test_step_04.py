"""Visible checks for step 04: run them with `python -m grading check 4`."""

import math

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail

CONFIG = {"vocab_size": 97, "n_positions": 16, "n_embd": 8, "n_layer": 2, "n_head": 2, "n_inner": 32, "layer_norm_epsilon": 1e-5}
INTERMEDIATE = 32


def mlp_structure(step, config_kwargs, intermediate_size):
    """Runs in the worker: what GPT2MLP(intermediate_size, config) holds, as data."""
    from torch import nn

    from step_01 import GPT2Config

    mlp = step.GPT2MLP(intermediate_size, GPT2Config(**config_kwargs))
    facts = {"is_module": isinstance(mlp, nn.Module), "layers": {}}
    for name in ("c_fc", "c_proj"):
        layer = getattr(mlp, name, None)
        facts["layers"][name] = {
            "what": type(layer).__name__ if layer is not None else "None",
            "is_linear": isinstance(layer, nn.Linear),
            "in_features": getattr(layer, "in_features", None),
            "out_features": getattr(layer, "out_features", None),
            "has_bias": isinstance(getattr(layer, "bias", None), torch.Tensor),
        }
    facts["state_dict"] = {k: tuple(v.shape) for k, v in mlp.state_dict().items()} if facts["is_module"] else {}
    return facts


def mlp_outputs(step, cases):
    """Runs in the worker: for each case build GPT2MLP(intermediate_size,
    GPT2Config(**config)), load its state dict and run forward on each input.
    Returns {case id: [outputs]}, or {case id: {"missing": message}} for a
    case whose weights do not fit."""
    from step_01 import GPT2Config

    from grading.engine.probes import load_weights

    outputs = {}
    for case, c in cases.items():
        mlp = step.GPT2MLP(c["intermediate_size"], GPT2Config(**c["config"]))
        problem = load_weights("GPT2MLP", mlp, c["state_dict"], empty="create c_fc and c_proj in __init__")
        if problem:
            outputs[case] = {"missing": problem}
            continue
        mlp.eval()
        with torch.no_grad():
            outputs[case] = [mlp(x) for x in c["inputs"]]
    return outputs


def gelu_tanh(x):
    """GELU, tanh approximation (Hugging Face's "gelu_new")."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


# Known answer: with identity weights and zero biases, the MLP is just GELU.
EYE = {"c_fc.weight": torch.eye(4), "c_fc.bias": torch.zeros(4), "c_proj.weight": torch.eye(4), "c_proj.bias": torch.zeros(4)}
KNOWN_INPUT = torch.tensor([[[-2.0, -1.0, 0.0, 1.0], [0.5, 1.5, 2.5, -0.5]]])  # (1, 2, 4)
SHAPE_INPUT = torch.randn(2, 3, CONFIG["n_embd"], generator=torch.Generator().manual_seed(0))
CASES = {
    "identity": {"config": CONFIG | {"n_embd": 4, "n_inner": 4}, "intermediate_size": 4, "state_dict": EYE, "inputs": [KNOWN_INPUT]},
}


@pytest.fixture(scope="module")
def structure(student):
    return student.call(mlp_structure, CONFIG, INTERMEDIATE)


@pytest.fixture(scope="module")
def known(student):
    return student.call(mlp_outputs, CASES)["identity"]


def shape_probe(step, config_kwargs, intermediate_size, x):
    """Runs in the worker: the output of a freshly built GPT2MLP on x."""
    from step_01 import GPT2Config

    with torch.no_grad():
        return step.GPT2MLP(intermediate_size, GPT2Config(**config_kwargs))(x)


@pytest.fixture(scope="module")
def fresh_output(student):
    return student.call(shape_probe, CONFIG, INTERMEDIATE, SHAPE_INPUT)


def _layer_check(structure, name, n_in, n_out):
    layer = structure["layers"][name]
    expect(structure["is_module"], "GPT2MLP should be a subclass of nn.Module")
    expect(layer["is_linear"], f"GPT2MLP.{name} should be an nn.Linear, but it is {layer['what']}")
    expect(
        (layer["in_features"], layer["out_features"]) == (n_in, n_out),
        f"GPT2MLP.{name} maps {layer['in_features']} → {layer['out_features']} features, but {n_in} → {n_out} was expected",
    )
    expect(layer["has_bias"], f"GPT2MLP.{name} has no bias: GPT-2's layers all have one (leave bias=True)")


@check(
    "c_fc is nn.Linear(n_embd, intermediate_size) with a bias",
    hint="self.c_fc = nn.Linear(config.n_embd, intermediate_size): it widens each vector.",
)
def test_c_fc(structure):
    _layer_check(structure, "c_fc", CONFIG["n_embd"], INTERMEDIATE)


@check(
    "c_proj is nn.Linear(intermediate_size, n_embd) with a bias",
    hint="self.c_proj = nn.Linear(intermediate_size, config.n_embd): it projects back to the model width.",
)
def test_c_proj(structure):
    _layer_check(structure, "c_proj", INTERMEDIATE, CONFIG["n_embd"])


@check(
    "the state dict holds exactly c_fc.weight, c_fc.bias, c_proj.weight, c_proj.bias",
    hint="Only c_fc and c_proj have weights; use the functional GELU or a module without parameters for the activation.",
)
def test_state_dict(structure):
    want = {"c_fc.weight": (INTERMEDIATE, 8), "c_fc.bias": (INTERMEDIATE,), "c_proj.weight": (8, INTERMEDIATE), "c_proj.bias": (8,)}
    got = structure["state_dict"]
    expect(set(got) == set(want), f"GPT2MLP's state dict has the keys {sorted(got)}, but {sorted(want)} were expected")
    for key, shape in want.items():
        expect(got[key] == shape, f"GPT2MLP's {key} has shape {got[key]}, but {shape} was expected")


@check(
    "GPT2MLP maps (2, 3, 8) to (2, 3, 8) in float32",
    hint="forward: c_fc, then GELU, then c_proj; the output has the width of the input.",
)
def test_output_shape(fresh_output):
    if not isinstance(fresh_output, torch.Tensor):
        fail(f"GPT2MLP(x) should return a tensor of shape (2, 3, 8), but it returned {describe(fresh_output)}")
    shape = tuple(fresh_output.shape)
    expect(shape != (2, 3, INTERMEDIATE), f"GPT2MLP returned shape {shape} but (2, 3, 8) was expected: is c_proj missing?")
    expect(shape == (2, 3, 8), f"GPT2MLP returned shape {shape} but (2, 3, 8) was expected")
    expect(fresh_output.dtype == torch.float32, f"GPT2MLP returned dtype {str(fresh_output.dtype).replace('torch.', '')} for a float32 input")


@check(
    "with identity weights and zero biases, GPT2MLP is the tanh-approximated GELU",
    hint="Use F.gelu(x, approximate='tanh') (Hugging Face's 'gelu_new'), not the exact GELU, ReLU or no activation.",
    weight=2,
)
def test_known_answer(known):
    if isinstance(known, dict):
        fail(known["missing"])
    assert_close(known[0], gelu_tanh(KNOWN_INPUT), what="GPT2MLP(x) with identity weights")
