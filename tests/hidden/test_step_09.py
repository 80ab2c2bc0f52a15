"""Hidden checks for step 09: GPT2Block agrees with transformers' ``GPT2Block``
on tiny configurations with every parameter randomized (LayerNorm weights
and biases and every linear bias too), several seeds and shapes: B > 1,
T = 1, T = n_positions, one head and several, two epsilons.

Step 09 is graded on its own: its worker gives the submission the grader's
reference steps 01–08 (``from step_07 import ...`` gets a correct
attention), so the parts the block builds are trusted ones, and every check
runs the whole block exactly as the submission builds it, on loaded
weights, however its forward reaches those parts. The *composition* checks
use configurations where construction details do not matter (default eps,
n_inner = 4 * n_embd), so they grade the wiring of forward: pre-norm order,
residual additions. The *as built* checks use an n_inner other than
4 * n_embd and a non-default eps. (Each check also earns its points on the
student's own steps 01–08 when those are all correct: see
``grading.engine.plugin``.)

The helpers at the top (transformers configuration, randomization, the
``Conv1D`` transpose, diagnosis of wrong outputs) are shared with step 10.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grading.engine.checks import CheckFailure, assert_close, check, expect, fail, reference_fixture
from tests.visible.test_step_09 import block_outputs

ATOL = RTOL = 1e-4  # the reference runs in float64, the submission in float32
CONV1D = ("c_attn.weight", "c_proj.weight", "c_fc.weight")  # transformers' Conv1D: weights are (in, out)


# -- helpers shared with step 10 ----------------------------------------------------


def hf_config(cfg: dict):
    """transformers' configuration with our sizes; dropout off, and the "sdpa"
    attention, which is causal without a mask (in transformers 5.x "eager" is
    not, when a GPT2Block is called on its own)."""
    from transformers import GPT2Config as HFConfig

    return HFConfig(
        vocab_size=cfg["vocab_size"],
        n_positions=cfg["n_positions"],
        n_embd=cfg["n_embd"],
        n_layer=cfg["n_layer"],
        n_head=cfg["n_head"],
        n_inner=cfg["n_inner"],
        layer_norm_epsilon=cfg.get("layer_norm_epsilon", 1e-5),
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="sdpa",
    )


def randomize_(module: torch.nn.Module, gen: torch.Generator) -> torch.nn.Module:
    """Every parameter random: LayerNorm weights near 1, all biases and
    LayerNorm biases nonzero, matrices scaled by fan-in (Conv1D's first dim)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(("wte.weight", "wpe.weight")):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[0]))
            elif ".ln_" in f".{name}" and name.endswith(".weight"):
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return module.eval()


def course_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """transformers' state dict in the course's layout: Conv1D weights
    transposed to nn.Linear's (out, in), float32."""
    return {
        name: (value.t() if name.endswith(CONV1D) else value).float().contiguous().clone()
        for name, value in module.state_dict().items()
    }


def matches(actual, expected) -> bool:
    return (
        isinstance(actual, torch.Tensor)
        and actual.shape == expected.shape
        and actual.dtype == expected.dtype
        and torch.allclose(actual.double(), expected.double(), atol=ATOL, rtol=RTOL)
    )


def assert_matches(actual, expected, *, what: str, variants: dict, hint_shape: str = ""):
    """``assert_close``, and on a mismatch, say which known mistake (a function
    in ``variants``, computed only now) the output matches, if any."""
    try:
        assert_close(actual, expected, what=what, atol=ATOL, rtol=RTOL, hint_shape=hint_shape)
    except CheckFailure as failure:
        if isinstance(actual, torch.Tensor) and actual.shape == expected.shape:
            for explanation, compute in variants.items():
                try:
                    variant = compute()
                except Exception:  # e.g. a shifted position past n_positions
                    continue
                if variant is not None and matches(actual, variant.float()):
                    raise CheckFailure(f"{failure}. Your output matches {explanation}") from None
        raise


def block_variants(hf: torch.nn.Module, x: torch.Tensor, eps: float) -> dict:
    """Wrong blocks a student might write, computed with transformers' parts (float64)."""
    ln_1, ln_2, mlp = hf.ln_1, hf.ln_2, hf.mlp

    def attn(h):
        return hf.attn(h)[0]

    def default_eps(ln):
        return lambda h: F.layer_norm(h, ln.normalized_shape, ln.weight, ln.bias, eps=1e-5)

    def run(first, second):
        return second(first(x))

    return {
        "a post-norm block, ln_1(x + attn(x)) then ln_2(x + mlp(x)): GPT-2 is pre-norm, it normalizes "
        "the sublayer's input, x + attn(ln_1(x)).": lambda: run(lambda h: ln_1(h + attn(h)), lambda h: ln_2(h + mlp(h))),
        "a block without residual connections, mlp(ln_2(attn(ln_1(x)))): add each sublayer's output to x.": lambda: run(
            lambda h: attn(ln_1(h)), lambda h: mlp(ln_2(h))
        ),
        "a block whose attention has no residual connection: write x = x + self.attn(self.ln_1(x)).": lambda: run(
            lambda h: attn(ln_1(h)), lambda h: h + mlp(ln_2(h))
        ),
        "a block whose MLP has no residual connection: write x = x + self.mlp(self.ln_2(x)).": lambda: run(
            lambda h: h + attn(ln_1(h)), lambda h: mlp(ln_2(h))
        ),
        "a block that adds each sublayer's output to the normalized x, ln(x) + sublayer(ln(x)): the residual "
        "is the un-normalized x.": lambda: run(lambda h: ln_1(h) + attn(ln_1(h)), lambda h: ln_2(h) + mlp(ln_2(h))),
        "a block with ln_1 and ln_2 swapped: ln_1 goes before attn, ln_2 before mlp.": lambda: run(
            lambda h: h + attn(ln_2(h)), lambda h: h + mlp(ln_1(h))
        ),
        "a block that runs the MLP before attention: attention comes first.": lambda: run(
            lambda h: h + mlp(ln_2(h)), lambda h: h + attn(ln_1(h))
        ),
        "a block that gives attention and the MLP the same input, x + attn(ln_1(x)) + mlp(ln_2(x)): the MLP "
        "reads the output of the attention step.": lambda: x + attn(ln_1(x)) + mlp(ln_2(x)),
        "a block that uses ln_1 for both sublayers: the MLP's input goes through ln_2.": lambda: run(
            lambda h: h + attn(ln_1(h)), lambda h: h + mlp(ln_1(h))
        ),
        "a block whose LayerNorms use eps=1e-5 instead of config.layer_norm_epsilon: pass "
        "eps=config.layer_norm_epsilon to both.": lambda: run(
            lambda h: h + attn(default_eps(ln_1)(h)), lambda h: h + mlp(default_eps(ln_2)(h))
        )
        if eps != 1e-5
        else None,
    }


# -- cases ---------------------------------------------------------------------------

# The composition cases grade how forward wires the parts. Their configurations
# are ones where the usual construction slips change nothing (eps is the default
# 1e-5, n_inner is 4 * n_embd), so a slip costs the "as built" checks only.
CONFIGS = {
    "heads4": {"vocab_size": 11, "n_positions": 16, "n_embd": 32, "n_layer": 1, "n_head": 4, "n_inner": 128},
    "heads1": {"vocab_size": 11, "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 1, "n_inner": 64},
    # as built: the MLP's width and the LayerNorms' eps must come from the config
    "heads4-inner96": {"vocab_size": 11, "n_positions": 16, "n_embd": 32, "n_layer": 1, "n_head": 4, "n_inner": 96},
    "heads1-inner40-eps0.01": {
        "vocab_size": 11, "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 1, "n_inner": 40,
        "layer_norm_epsilon": 1e-2,
    },
}  # fmt: skip
# (case id, config name, B, T); T = 16 is n_positions
CASES = [
    ("B2-T5-heads4", "heads4", 2, 5),
    ("B1-T1-heads4", "heads4", 1, 1),
    ("B3-T16-heads4", "heads4", 3, 16),
    ("B2-T7-heads1", "heads1", 2, 7),
    ("B1-T16-heads1", "heads1", 1, 16),
]
BUILT_CASES = [
    ("B2-T5-heads4-inner96", "heads4-inner96", 2, 5),
    ("B1-T1-heads4-inner96", "heads4-inner96", 1, 1),
    ("B3-T16-heads4-inner96", "heads4-inner96", 3, 16),
    ("B2-T7-heads1-eps0.01", "heads1-inner40-eps0.01", 2, 7),
    ("B1-T16-heads1-eps0.01", "heads1-inner40-eps0.01", 1, 16),
]
CASE_IDS = [case[0] for case in CASES]
BUILT_IDS = [case[0] for case in BUILT_CASES]


@reference_fixture
def reference():
    """One randomized transformers GPT2Block per case, its input and output (float64)."""
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block as HFBlock

    cases = {}
    for seed, (case_id, config_name, B, T) in enumerate(CASES + BUILT_CASES):
        cfg = CONFIGS[config_name]
        gen = torch.Generator().manual_seed(900 + seed)
        hf = randomize_(HFBlock(hf_config(cfg)), gen)
        x = torch.randn(B, T, cfg["n_embd"], generator=gen) + torch.randn(B, T, 1, generator=gen)
        state = course_state_dict(hf)
        hf = hf.double()
        with torch.no_grad():
            expected = hf(x.double()).float()
        cases[case_id] = {"config": cfg, "state_dict": state, "x": x, "expected": expected, "hf": hf}
    return cases


def _runs(reference, case_ids):
    return [
        {"config": reference[c]["config"], "state_dict": reference[c]["state_dict"], "inputs": [reference[c]["x"]]}
        for c in case_ids
    ]


def _by_case(result, case_ids):
    if "missing" in result:
        return result
    return {case_id: outs[0] for case_id, outs in zip(case_ids, result["outputs"])} | {"changed": result.get("changed")}


@pytest.fixture(scope="module")
def composed(student, reference):
    return _by_case(student.call(block_outputs, _runs(reference, CASE_IDS)), CASE_IDS)


@pytest.fixture(scope="module")
def built(student, reference):
    return _by_case(student.call(block_outputs, _runs(reference, BUILT_IDS)), BUILT_IDS)


def _check_case(outputs, reference, case, what):
    if "missing" in outputs:
        fail(outputs["missing"])
    ref = reference[case]
    with torch.no_grad():
        assert_matches(
            outputs[case],
            ref["expected"],
            what=what,
            variants=block_variants(ref["hf"], ref["x"].double(), ref["config"].get("layer_norm_epsilon", 1e-5)),
            hint_shape="a block keeps the shape of its input, (batch, tokens, n_embd)",
        )


@pytest.mark.parametrize("case", CASE_IDS)
@check(
    "forward wires attention and the MLP like transformers' GPT2Block (pre-norm, two residual additions)",
    hint="forward is two lines: x = x + self.attn(self.ln_1(x)), then x = x + self.mlp(self.ln_2(x)).",
    weight=1.2,
)
def test_composition(composed, reference, case):
    _check_case(composed, reference, case, "GPT2Block's output")


@pytest.mark.parametrize("case", BUILT_IDS)
@check(
    "GPT2Block, as you build it, matches transformers' GPT2Block (n_inner and eps from the config)",
    hint="Build ln_1 and ln_2 with eps=config.layer_norm_epsilon, attn from step 07 and "
    "mlp = GPT2MLP(config.n_inner, config) from step 04.",
    weight=0.6,
)
def test_as_built(built, reference, case):
    _check_case(built, reference, case, "GPT2Block's output")


@check(
    "forward leaves its input tensor unchanged",
    hint="Write x = x + ..., not x += ...: an in-place add overwrites the caller's hidden_states.",
    weight=0.5,
)
def test_input_unchanged(composed):
    if "missing" in composed:
        fail(composed["missing"])
    changed = [case for case, flags in zip(CASE_IDS, composed["changed"]) if flags[0]]
    expect(not changed, f"GPT2Block's forward changed the hidden_states it was given (cases {', '.join(changed)})")
