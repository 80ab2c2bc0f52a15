"""Hidden checks for step 08: the residual connection is a plain, out-of-place
addition that gradients flow through, and ``ResidualBlock`` used the GPT-2
way computes the pre-norm ``x + sublayer(ln(x))`` of transformers'
``GPT2Block``, with random LayerNorm weights and biases, several widths,
epsilons, shapes and dtypes."""

import pytest
import torch
import torch.nn.functional as F

from grading.engine.checks import assert_close, check, describe, expect, fail, reference_fixture
from tests.visible.test_step_08 import block_outputs, block_result, residual_outputs

# (case id, shape, dtype) for apply_residual_connection
PAIR_CASES = [
    ("B2-T5-C16", (2, 5, 16), torch.float32),
    ("B1-T1-C16", (1, 1, 16), torch.float32),
    ("B3-T16-C8", (3, 16, 8), torch.float32),
    ("B2-T4-C8-float64", (2, 4, 8), torch.float64),
]
# (case id, dim, eps or None for the default, shape) for ResidualBlock
BLOCK_CASES = [
    ("dim16-default-eps-B2-T5", 16, None, (2, 5, 16)),
    ("dim8-eps0.1-B1-T1", 8, 0.1, (1, 1, 8)),
    ("dim32-eps0.01-B3-T16", 32, 0.01, (3, 16, 32)),
]
PAIR_IDS = [case_id for case_id, _, _ in PAIR_CASES]
BLOCK_IDS = [case_id for case_id, _, _, _ in BLOCK_CASES]


def residual_gradients(step, x, sub, upstream, dim):
    """Gradients of ``(f(x, sub) * upstream).sum()`` for x and sub, where f is
    apply_residual_connection and then ResidualBlock(dim).forward."""
    import torch

    grads = []
    for f in (step.apply_residual_connection, step.ResidualBlock(dim)):
        x_in, sub_in = x.clone().requires_grad_(True), sub.clone().requires_grad_(True)
        out = f(x_in, sub_in)
        if not (isinstance(out, torch.Tensor) and out.requires_grad and out.shape == upstream.shape):
            grads.append(None)
            continue
        (out * upstream).sum().backward()
        grads.append([None if t.grad is None else t.grad.clone() for t in (x_in, sub_in)])
    return grads


@reference_fixture
def reference():
    pairs, expected_pairs = [], {}
    for seed, (case_id, shape, dtype) in enumerate(PAIR_CASES):
        gen = torch.Generator().manual_seed(800 + seed)
        x, sub = torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype)
        pairs.append((x, sub))
        expected_pairs[case_id] = x + sub
    blocks, expected_forward, expected_prenorm = [], {}, {}
    for seed, (case_id, dim, eps, shape) in enumerate(BLOCK_CASES):
        gen = torch.Generator().manual_seed(880 + seed)
        ln_state = {"weight": 1 + 0.5 * torch.randn(dim, generator=gen), "bias": 0.5 * torch.randn(dim, generator=gen)}
        x = 0.3 * torch.randn(shape, generator=gen) + torch.randn(shape[:-1] + (1,), generator=gen)
        sub, w = torch.randn(shape, generator=gen), torch.randn(dim, dim, generator=gen) / dim**0.5
        blocks.append((dim, eps, ln_state, x, sub, w))
        expected_forward[case_id] = x + sub
        normed = F.layer_norm(x, (dim,), ln_state["weight"], ln_state["bias"], eps=1e-5 if eps is None else eps)
        expected_prenorm[case_id] = x + normed @ w
    gen = torch.Generator().manual_seed(888)
    x, sub, upstream = (torch.randn(2, 3, 16, generator=gen) for _ in range(3))
    return {
        "pairs": pairs,
        "blocks": blocks,
        "pair": expected_pairs,
        "forward": expected_forward,
        "prenorm": expected_prenorm,
        "grad_inputs": (x, sub, upstream, 16),
    }


@pytest.fixture(scope="module")
def outputs(student, reference):
    result = student.call(residual_outputs, reference["pairs"])
    return {"pair": dict(zip(PAIR_IDS, result["applied"])), "changed": dict(zip(PAIR_IDS, result["changed"]))}


@pytest.fixture(scope="module")
def blocks(student, reference):
    result = student.call(block_outputs, reference["blocks"])
    if "missing" in result:
        return result
    return {key: dict(zip(BLOCK_IDS, result[key])) for key in ("forwards", "prenorms", "changed")}


@pytest.fixture(scope="module")
def gradients(student, reference):
    return student.call(residual_gradients, *reference["grad_inputs"])


@pytest.mark.parametrize("case", PAIR_IDS)
@check(
    "apply_residual_connection returns input_tensor + sublayer_output",
    hint="Add the two tensors and return the sum: no scaling, no normalization, same dtype as the inputs.",
    weight=1,
)
def test_apply(outputs, reference, case):
    assert_close(outputs["pair"][case], reference["pair"][case], what="apply_residual_connection's result")


@check(
    "apply_residual_connection leaves its inputs unchanged",
    hint="Write input_tensor + sublayer_output, not input_tensor += sublayer_output: "
    "an in-place add overwrites the caller's tensor.",
    weight=1.5,
)
def test_apply_out_of_place(outputs):
    for case, result in outputs["pair"].items():
        expect(
            isinstance(result, torch.Tensor),
            f"apply_residual_connection returned {describe(result)} instead of a tensor ({case})",
        )
    changed = [case for case, was_changed in outputs["changed"].items() if was_changed]
    expect(not changed, f"apply_residual_connection changed the tensors it was given (cases {', '.join(changed)})")


@pytest.mark.parametrize("case", BLOCK_IDS)
@check(
    "ResidualBlock.forward(x, sublayer_output) is x + sublayer_output",
    hint="forward adds the sublayer's output to x and nothing else: block.ln is applied by the caller, "
    "to the sublayer's input.",
    weight=1,
)
def test_forward(blocks, reference, case):
    assert_close(block_result(blocks, "forwards")[case], reference["forward"][case], what="ResidualBlock's output")
    expect(not blocks["changed"][case], "ResidualBlock.forward changed the tensors it was given (an in-place add?)")


@pytest.mark.parametrize("case", BLOCK_IDS)
@check(
    "block(x, sublayer(block.ln(x))) matches GPT2Block's pre-norm residual",
    hint="ln must be LayerNorm(dim, eps=eps) with the eps you were given; the sum is x + sublayer_output, "
    "not ln(x + sublayer_output).",
    weight=1.5,
)
def test_prenorm(blocks, reference, case):
    assert_close(
        block_result(blocks, "prenorms")[case],
        reference["prenorm"][case],
        what="block(x, sublayer(block.ln(x))) with random ln weights and a linear sublayer",
    )


@check(
    "gradients flow unchanged through both the residual path and the sublayer path",
    hint="The residual path must stay in the graph: no .detach(), no torch.no_grad(), no scaling of either term.",
    weight=1.5,
)
def test_gradients(gradients, reference):
    _, _, upstream, _ = reference["grad_inputs"]
    for name, grads in zip(("apply_residual_connection", "ResidualBlock.forward"), gradients):
        if grads is None:
            fail(f"{name} did not return a tensor that gradients can flow through")
        for what, grad in zip(("input_tensor (the residual path)", "sublayer_output"), grads):
            if grad is None:
                fail(f"no gradient reached {what} through {name}: is it detached?")
            assert_close(grad, upstream, what=f"the gradient of {name}'s output with respect to {what}")
