"""Hidden checks for step 03: LayerNorm agrees with
torch.nn.functional.layer_norm, with a random weight and bias, several eps
values, and inputs of many shapes, means and scales."""

import pytest
import torch
import torch.nn.functional as F

from grading.engine.checks import assert_close, check, reference_fixture
from tests.visible.test_step_03 import layer_norm_outputs

# id: (seed, dim, eps or None for the default, input shape, input scale, input mean)
SPECS = {
    "B2-T5-dim8": (0, 8, None, (2, 5, 8), 1.0, 0.0),
    "B3-T16-dim64": (1, 64, 1e-5, (3, 16, 64), 2.0, 0.5),
    "B1-T1-dim16": (2, 16, 1e-3, (1, 1, 16), 1.0, 0.0),
    "T7-dim32-no-batch": (3, 32, None, (7, 32), 3.0, -1.0),
    "4d-dim16": (4, 16, None, (2, 3, 4, 16), 1.0, 0.0),
    "large-mean-and-scale": (5, 32, None, (2, 4, 32), 40.0, 300.0),
    "tiny-scale-default-eps": (6, 32, None, (2, 4, 32), 1e-3, 0.0),
    "eps0.1": (7, 8, 0.1, (2, 3, 8), 0.5, 0.0),
    "eps1e-3-small-scale": (8, 64, 1e-3, (2, 2, 64), 0.03, 0.2),
}


def _build(seed, dim, eps, shape, scale, mean):
    g = torch.Generator().manual_seed(1000 + seed)
    state = {"weight": torch.randn(dim, generator=g) * 1.5, "bias": torch.randn(dim, generator=g)}
    x = torch.randn(*shape, generator=g) * scale + mean
    expected = F.layer_norm(x, (dim,), state["weight"], state["bias"], 1e-5 if eps is None else eps)
    return {"dim": dim, "eps": eps, "state_dict": state, "input": x}, expected


BUILT = {case: _build(*spec) for case, spec in SPECS.items()}
CASES = {case: built[0] for case, built in BUILT.items()}
EXPECTED = {case: built[1] for case, built in BUILT.items()}


def layer_norm_gradients(step, case):
    """Runs in the worker: gradients of sum(output * upstream) with respect to
    the input, weight and bias."""
    ln = step.LayerNorm(case["dim"])
    ln.load_state_dict(case["state_dict"])
    x = case["input"].clone().requires_grad_(True)
    (ln(x) * case["upstream"]).sum().backward()
    return {
        "input": x.grad,
        "weight": None if ln.weight.grad is None else ln.weight.grad.detach(),
        "bias": None if ln.bias.grad is None else ln.bias.grad.detach(),
    }


@pytest.fixture(scope="module")
def outputs(student):
    return student.call(layer_norm_outputs, CASES)


@reference_fixture
def gradient_case():
    case, _ = _build(9, 16, None, (2, 3, 16), 1.0, 0.0)
    case["upstream"] = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(9))
    ln = torch.nn.LayerNorm(16)
    ln.load_state_dict(case["state_dict"])
    x = case["input"].clone().requires_grad_(True)
    (ln(x) * case["upstream"]).sum().backward()
    return case, {"input": x.grad, "weight": ln.weight.grad, "bias": ln.bias.grad}


@pytest.fixture(scope="module")
def gradients(student, gradient_case):
    return student.call(layer_norm_gradients, gradient_case[0])


@pytest.mark.parametrize("case", list(SPECS))
@check(
    "LayerNorm matches torch.nn.functional.layer_norm with a random weight and bias",
    hint="Normalize over the last dim with the biased variance, put eps inside the square root, "
    "use the eps you were given (default 1e-5), then * weight + bias.",
)
def test_matches_torch(outputs, case):
    eps = CASES[case]["eps"]
    what = f"LayerNorm({CASES[case]['dim']}{'' if eps is None else f', eps={eps:g}'}) on an input of shape {tuple(CASES[case]['input'].shape)}"
    assert_close(outputs[case], EXPECTED[case], what=what, atol=1e-4)


@pytest.mark.parametrize("name", ["input", "weight", "bias"])
@check(
    "gradients flow through LayerNorm to its {name}",
    hint="Compute everything with differentiable tensor operations (no .item(), .detach(), .data or torch.no_grad in forward), "
    "and keep weight and bias as nn.Parameter.",
)
def test_gradients(gradients, gradient_case, name):
    assert_close(gradients[name], gradient_case[1][name], what=f"the gradient with respect to LayerNorm's {name}", atol=1e-4)
