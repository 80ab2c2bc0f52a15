"""Hidden checks for step 07: GPT2MultiHeadAttention agrees with transformers'
``GPT2Attention`` (eager attention with an explicit causal mask; its
``Conv1D`` weights transposed for ``nn.Linear``), every weight and bias
random, for one and many heads, several seeds, batch sizes and lengths from
1 to n_positions; the output never depends on later tokens; the scores are
scaled by 1 / sqrt(head_dim)."""

import math

import pytest
import torch

from grading.engine.checks import assert_close, check, expect, fail, manual_seed, reference_fixture
from tests.visible.test_step_07 import attention_outputs

N_POSITIONS = 16
MODELS = {  # name: (n_embd, n_head, seed)
    "heads4": (32, 4, 0),
    "heads4-seed1": (32, 4, 1),
    "heads1": (16, 1, 2),
    "heads8": (64, 8, 3),
}
SHAPES = {"B1-T1": (1, 1), "B2-T5": (2, 5), f"B3-T{N_POSITIONS}": (3, N_POSITIONS)}
DOUBLE_CASE = "heads4-B2-T5-float64"
SCALE_MODEL, SCALE_SHAPE = "heads4", (2, 6)  # head_dim 8: sqrt(8), sqrt(32), 8 and 1 all differ
WRONG_SCALES = {  # common mistakes, and the factor they multiply the scores by
    "scores that are not scaled at all": lambda n_embd, n_head: 1.0,
    "scores divided by sqrt(n_embd) instead of sqrt(head_dim)": lambda n_embd, n_head: n_embd**-0.5,
    "scores divided by head_dim instead of sqrt(head_dim)": lambda n_embd, n_head: n_head / n_embd,
    "scores multiplied by sqrt(head_dim) instead of divided": lambda n_embd, n_head: (n_embd / n_head) ** 0.5,
}
CAUSAL_MODEL, CAUSAL_T, CAUSAL_CUTS = "heads4", 8, (0, 3, 6)


def our_config(n_embd, n_head):
    return {
        "vocab_size": 50, "n_positions": N_POSITIONS, "n_embd": n_embd,
        "n_layer": 1, "n_head": n_head, "n_inner": 4 * n_embd,
    }  # fmt: skip


def hf_attention(n_embd, n_head, seed):
    """transformers' GPT2Attention with every weight and bias random."""
    # Imported here, by the judge: a spawned worker imports this module only for its probes.
    from transformers import GPT2Config as HFConfig
    from transformers.models.gpt2.modeling_gpt2 import GPT2Attention

    manual_seed(seed)
    config = HFConfig(
        vocab_size=50, n_positions=N_POSITIONS, n_embd=n_embd, n_layer=1, n_head=n_head,
        attn_pdrop=0.0, resid_pdrop=0.0, bos_token_id=49, eos_token_id=49, attn_implementation="eager",
    )  # fmt: skip
    attn = GPT2Attention(config).eval()
    with torch.no_grad():
        for name, p in attn.named_parameters():
            # weights ~ 1/sqrt(n_embd) keep the scores near 1, where the softmax is far from one-hot
            # and a wrong scale or mask shows in every output
            torch.nn.init.normal_(p, std=n_embd**-0.5 if name.endswith("weight") else 0.5)
    return attn


def run_hf(attn, x, scaling=None):
    T = x.shape[1]
    mask = torch.full((T, T), float("-inf"), dtype=x.dtype).triu(1).view(1, 1, T, T)  # additive, (1, 1, T, T)
    saved = attn.scaling
    if scaling is not None:
        attn.scaling = scaling
    try:
        with torch.no_grad():
            return attn(x, attention_mask=mask)[0]
    finally:
        attn.scaling = saved


def linear_state_dict(attn):
    """HF's Conv1D weights are (in, out); nn.Linear's are (out, in)."""
    return {
        "c_attn.weight": attn.c_attn.weight.detach().t().contiguous(),
        "c_attn.bias": attn.c_attn.bias.detach().clone(),
        "c_proj.weight": attn.c_proj.weight.detach().t().contiguous(),
        "c_proj.bias": attn.c_proj.bias.detach().clone(),
    }


def _inputs():
    """case id -> (model name, input, double)."""
    cases = {}
    for index, (model, (n_embd, _, _)) in enumerate(MODELS.items()):
        gen = torch.Generator().manual_seed(300 + index)
        for shape_id, (B, T) in SHAPES.items():
            cases[f"{model}-{shape_id}"] = (model, torch.randn(B, T, n_embd, generator=gen), False)
    gen = torch.Generator().manual_seed(400)
    cases[DOUBLE_CASE] = ("heads4", torch.randn(2, 5, MODELS["heads4"][0], generator=gen, dtype=torch.float64), True)
    return cases


CASES = _inputs()
CASE_IDS = list(CASES)


@reference_fixture
def reference():
    models = {name: hf_attention(*spec) for name, spec in MODELS.items()}
    expected = {}
    for case, (model, x, double) in CASES.items():
        attn = models[model].double() if double else models[model].float()
        expected[case] = run_hf(attn, x)
    models["heads4"].float()

    gen = torch.Generator().manual_seed(500)
    n_embd, n_head, _ = MODELS[SCALE_MODEL]
    scale_x = torch.randn(*SCALE_SHAPE, n_embd, generator=gen)
    scales = {"right": run_hf(models[SCALE_MODEL], scale_x)}
    for mistake, scale in WRONG_SCALES.items():
        scales[mistake] = run_hf(models[SCALE_MODEL], scale_x, scaling=scale(n_embd, n_head))

    n_embd = MODELS[CAUSAL_MODEL][0]
    causal_x = torch.randn(2, CAUSAL_T, n_embd, generator=gen)
    changed = []
    for cut in CAUSAL_CUTS:  # keep tokens 0 … cut, replace every later one
        x = causal_x.clone()
        x[:, cut + 1 :] = torch.randn(2, CAUSAL_T - cut - 1, n_embd, generator=gen)
        changed.append(x)
    return {
        "state_dicts": {name: linear_state_dict(attn) for name, attn in models.items()},
        "expected": expected,
        "scale_x": scale_x,
        "scales": scales,
        "causal_inputs": [causal_x, *changed],
    }


@pytest.fixture(scope="module")
def outputs(student, reference):
    """Every case in one call: one run per model (and one in float64)."""
    runs, where = [], {}
    for model, (n_embd, n_head, _) in MODELS.items():
        inputs = [x for case, (m, x, double) in CASES.items() if m == model and not double]
        names = [case for case, (m, _, double) in CASES.items() if m == model and not double]
        if model == SCALE_MODEL:
            inputs.append(reference["scale_x"])
            names.append("scale")
        if model == CAUSAL_MODEL:
            inputs.extend(reference["causal_inputs"])
            names.extend(["causal"] + [f"causal-{cut}" for cut in CAUSAL_CUTS])
        where.update({name: (len(runs), i) for i, name in enumerate(names)})
        runs.append({"config": our_config(n_embd, n_head), "state_dict": reference["state_dicts"][model], "inputs": inputs})
    model = CASES[DOUBLE_CASE][0]
    where[DOUBLE_CASE] = (len(runs), 0)
    runs.append(
        {
            "config": our_config(*MODELS[model][:2]),
            "state_dict": reference["state_dicts"][model],
            "inputs": [CASES[DOUBLE_CASE][1]],
            "double": True,
        }
    )
    result = student.call(attention_outputs, runs)
    if "missing" in result:
        return result
    return {name: result["outputs"][run][i] for name, (run, i) in where.items()}


def _output(outputs, name):
    if "missing" in outputs:
        fail(outputs["missing"])
    return outputs[name]


@pytest.mark.parametrize("case", CASE_IDS)
@check(
    "GPT2MultiHeadAttention matches transformers' GPT2Attention",
    hint="Check the order q, k, v in c_attn's output, the head reshape (B, T, nh, hs) then transpose, "
    "the mask before a softmax over the keys, and the transpose back before c_proj.",
    weight=2,
)
def test_matches(outputs, reference, case):
    assert_close(
        _output(outputs, case),
        reference["expected"][case],
        what="GPT2MultiHeadAttention's output",
        hint_shape="attention keeps the shape of its input, (batch, tokens, n_embd)",
    )


@check(
    "a token's output never depends on the tokens after it (causal)",
    hint="Add step 02's causal_mask(T) to the scores before the softmax: -inf above the diagonal removes the future.",
    weight=2,
)
def test_causal(outputs):
    base = _output(outputs, "causal")
    expect(
        isinstance(base, torch.Tensor) and base.dim() == 3 and base.shape[1] == CAUSAL_T,
        "GPT2MultiHeadAttention's output is not (batch, tokens, n_embd), so causality could not be checked",
    )
    for cut in CAUSAL_CUTS:
        changed = _output(outputs, f"causal-{cut}")
        expect(
            isinstance(changed, torch.Tensor) and changed.shape == base.shape,
            "GPT2MultiHeadAttention's output changed shape between two inputs of the same shape",
        )
        diff = (changed[:, : cut + 1] - base[:, : cut + 1]).abs()
        if not bool((diff <= 1e-5).all()) or bool(diff.isnan().any()):
            position = int((diff > 1e-5).nonzero()[0][1]) if bool((diff > 1e-5).any()) else 0
            fail(
                f"the output at position {position} changed by up to {float(diff.nan_to_num(math.inf).max()):.3g} when "
                f"only the tokens after position {cut} changed: tokens can see the future. "
                "Is the mask added to the scores before the softmax, with -inf (not 0) above the diagonal?"
            )


@check(
    "attention scores are scaled by 1 / sqrt(head_dim)",
    hint="Divide q @ k.transpose(-2, -1) by math.sqrt(head_dim), where head_dim = n_embd // n_head.",
)
def test_scale(outputs, reference):
    got = _output(outputs, "scale")
    want = reference["scales"]["right"]
    expect(
        isinstance(got, torch.Tensor) and got.shape == want.shape and got.dtype == want.dtype,
        f"GPT2MultiHeadAttention returned {tuple(got.shape) if isinstance(got, torch.Tensor) else got} "
        f"but a tensor of shape {tuple(want.shape)} was expected, so the scale could not be checked",
    )
    if torch.allclose(got, want, atol=1e-5, rtol=1e-4):
        return
    n_embd, n_head, _ = MODELS[SCALE_MODEL]
    for mistake, wrong in reference["scales"].items():
        if mistake != "right" and torch.allclose(got, wrong, atol=1e-5, rtol=1e-4):
            fail(
                f"your attention's output is exactly what {mistake} give; with n_embd={n_embd} and "
                f"{n_head} heads, head_dim is {n_embd // n_head} and the scores should be divided by "
                f"sqrt({n_embd // n_head})"
            )
    diff = float((got - want).abs().nan_to_num(math.inf).max())
    fail(
        f"your attention's output differs by up to {diff:.3g} from attention scaled by 1 / sqrt(head_dim), and it "
        "matches no other common scale either: the scale may be right and the difference lie elsewhere "
        "(see your other failing checks)"
    )
