"""Hidden checks for step 04: GPT2MLP agrees with transformers' GPT2MLP
(activation "gelu_new") on tiny configurations with every weight and bias
randomized, for several seeds, widths and input shapes."""

import pytest
import torch

from grading.engine.checks import assert_close, check, fail, manual_seed, reference_fixture
from tests.visible.test_step_04 import mlp_outputs

BASE = {"vocab_size": 97, "n_positions": 16, "n_layer": 2, "n_head": 4, "layer_norm_epsilon": 1e-5}
# id: (seed, n_embd, intermediate_size, config.n_inner). The second one asks
# for a width that is not config.n_inner: the argument is what counts.
CONFIGS = {
    "embd64-inner256": (0, 64, 256, 256),
    "embd32-inner48": (1, 32, 48, 128),
    "embd16-inner64": (2, 16, 64, 64),
}
SHAPES = {"B2-T5": (2, 5), "B1-T1": (1, 1), "B3-T16": (3, 16)}


def _reference(seed, n_embd, intermediate, n_inner):
    """transformers' GPT2MLP with every parameter random, its state dict in
    nn.Linear layout, the inputs and the expected outputs."""
    # Imported here, by the judge: a spawned worker imports this module only for its probes.
    from transformers import GPT2Config as HFConfig
    from transformers.models.gpt2.modeling_gpt2 import GPT2MLP as HFGPT2MLP

    manual_seed(seed)
    hf = HFGPT2MLP(intermediate, HFConfig(n_embd=n_embd, n_inner=n_inner, activation_function="gelu_new", resid_pdrop=0.0))
    hf.eval()
    with torch.no_grad():
        # Pre-activations of about unit size, where GELU's shape matters most.
        hf.c_fc.weight.normal_(0, 1.5 / n_embd**0.5)
        hf.c_fc.bias.normal_(0, 0.5)
        hf.c_proj.weight.normal_(0, 1 / intermediate**0.5)
        hf.c_proj.bias.normal_(0, 0.5)
        inputs = [torch.randn(B, T, n_embd) for B, T in SHAPES.values()]
        expected = [hf(x) for x in inputs]
    state = {  # Conv1D keeps (in, out); nn.Linear wants (out, in)
        "c_fc.weight": hf.c_fc.weight.t().contiguous(),
        "c_fc.bias": hf.c_fc.bias.clone(),
        "c_proj.weight": hf.c_proj.weight.t().contiguous(),
        "c_proj.bias": hf.c_proj.bias.clone(),
    }
    case = {"config": BASE | {"n_embd": n_embd, "n_inner": n_inner}, "intermediate_size": intermediate, "state_dict": state, "inputs": inputs}
    return case, expected


@reference_fixture
def reference():
    return {name: _reference(*spec) for name, spec in CONFIGS.items()}


@pytest.fixture(scope="module")
def outputs(student, reference):
    return student.call(mlp_outputs, {name: case for name, (case, _) in reference.items()})


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("config", list(CONFIGS))
@check(
    "GPT2MLP matches transformers' GPT2MLP with random weights and biases",
    hint="forward is c_fc → GELU with approximate='tanh' → c_proj, each nn.Linear with its bias; "
    "the hidden width is the intermediate_size argument, not config.n_inner.",
)
def test_matches_transformers(outputs, reference, config, shape):
    _, n_embd, intermediate, _ = CONFIGS[config]
    index = list(SHAPES).index(shape)
    got = outputs[config]
    if isinstance(got, dict) and "missing" in got:
        fail(got["missing"])
    got = got[index] if isinstance(got, list) and len(got) > index else None
    B, T = SHAPES[shape]
    assert_close(
        got,
        reference[config][1][index],
        what=f"GPT2MLP({intermediate}, n_embd={n_embd}) on an input of shape ({B}, {T}, {n_embd})",
        hint_shape="the output should have the input's shape",
    )
