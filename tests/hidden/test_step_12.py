"""Hidden checks for step 12: the student's generate_next_token and
generate_tokens drive a reference model (the grader's step 11 reference,
holding the weights of a tiny transformers GPT2LMHeadModel with every
parameter random), so only the decoding logic is graded.

Greedy output must equal transformers' ``generate(do_sample=False)`` token for
token; sampling after the same ``torch.manual_seed`` must equal
``generate(do_sample=True, temperature=T, top_k=k)`` (``top_k=0`` when ours is
None, ``top_p=1.0``, no other logits processor: the model config has no
end-of-text token). Checks that hold for any correct method follow: draws stay
in the top-k set, their frequencies follow softmax(logits / T), ``top_k=1`` and
a tiny temperature are greedy, batches work, the prompt is kept. Every greedy
path used has a clear margin between its two best logits, so float noise
cannot flip a token."""

import pytest
import torch
from transformers import GPT2Config as HFConfig
from transformers import GPT2LMHeadModel as HFGPT2LMHeadModel
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper

from grading.engine.checks import assert_close, check, describe, expect, fail

CONFIG = {"vocab_size": 61, "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 128}
V = CONFIG["vocab_size"]
MODEL_SEED = 1200
MIN_MARGIN = 0.01  # between the best and second-best logit on every greedy path used (float noise: ~1e-5)

# generate_tokens: (batch, prompt length, new tokens, settings, seed of the prompt and the draws);
# the greedy seeds were chosen for a clear margin (the fixture asserts it)
GREEDY = {
    "B1-T1-new6": (1, 1, 6, {}, 4),
    "B2-T4-new5": (2, 4, 5, {}, 14),
    "B3-T2-new4": (3, 2, 4, {}, 7),
}
SAMPLED = {
    "temperature1.5-all-tokens": (1, 4, 6, {"temperature": 1.5, "top_k": None}, 12),
    "temperature0.7-top5": (1, 2, 6, {"temperature": 0.7, "top_k": 5}, 11),
    "temperature1-top2": (1, 1, 6, {"temperature": 1.0, "top_k": 2}, 13),
}
# Any correct method: same output as greedy, whatever the seed.
AS_GREEDY = {
    "top_k=1": ("B2-T4-new5", {"do_sample": True, "top_k": 1}, 21),
    "temperature=1e-4": ("B3-T2-new4", {"do_sample": True, "temperature": 1e-4}, 22),
    "do_sample=False-ignores-temperature-and-top_k": ("B1-T1-new6", {"do_sample": False, "temperature": 0.5, "top_k": 3}, 23),
}
# generate_next_token: (prompt, settings, seed)
NEXT_GREEDY = {"B3-T4": (3, 4, {"do_sample": False}, 34), "B2-T1": (2, 1, {"do_sample": False}, 31)}
NEXT_SAMPLED = {
    "B4-T5-temperature0.5-top4": (4, 5, {"temperature": 0.5, "top_k": 4}, 40),
    "B4-T2-temperature2": (4, 2, {"temperature": 2.0}, 41),
}
ROWS = 300  # draws per prompt for the distribution checks: one batch of identical rows
TOPK_PROMPTS, TOPK = 2, 3
FREQ_TEMPERATURE = 2.0


# -- the model the student's functions drive (built in the worker) ------------------


def hf_config(config_kwargs: dict) -> HFConfig:
    return HFConfig(
        **config_kwargs,
        activation_function="gelu_new",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None,  # no end-of-text: generate never stops early
    )  # fmt: skip


CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def reference_model(config_kwargs: dict, hf_state: dict):
    """The grader's reference GPT2LMHeadModel (step 11) holding transformers'
    weights: ``model(input_ids)`` returns logits (B, T, vocab_size)."""
    from grading.reference.step_01 import GPT2Config
    from grading.reference.step_11 import GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(**config_kwargs))
    model.load_state_dict({k: (v.t() if k.endswith(CONV1D_WEIGHTS) else v) for k, v in hf_state.items()})
    return model.eval()


# -- probes: they run in the worker, `step` is the submission's step_12 ------------


def next_token_results(step, config_kwargs, state_dict, cases):
    """generate_next_token on the reference model, each case after its own seed."""
    import torch

    model, out = reference_model(config_kwargs, state_dict), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        torch.manual_seed(seed)
        with torch.no_grad():
            out[name] = step.generate_next_token(model, input_ids.clone(), **kwargs)
    return out


def generate_results(step, config_kwargs, state_dict, cases):
    """generate_tokens on the reference model, each case after its own seed."""
    import torch

    model, out = reference_model(config_kwargs, state_dict), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        torch.manual_seed(seed)
        with torch.no_grad():
            out[name] = step.generate_tokens(model, input_ids.clone(), **kwargs)
    return out


# -- the reference, in the judge ---------------------------------------------------


def _prompt(seed, B, T):
    """The case's prompt: random tokens from the case's own seed."""
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(1000 + seed))


def _margins_ok(model, sequences, prompt_len):
    """Every greedy choice on these paths beat the runner-up by MIN_MARGIN."""
    with torch.no_grad():
        logits = model(sequences).logits[:, prompt_len - 1 : -1]  # the positions that chose a new token
    top2 = logits.topk(2, dim=-1).values
    return bool(((top2[..., 0] - top2[..., 1]) >= MIN_MARGIN).all())


def _hf_generate(model, prompt, new, seed, **settings):
    torch.manual_seed(seed)
    return model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=new,
        min_new_tokens=0,
        pad_token_id=0,
        top_p=1.0,
        repetition_penalty=1.0,
        **settings,
    )


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(MODEL_SEED)
    model = HFGPT2LMHeadModel(hf_config(CONFIG)).eval()
    with torch.no_grad():
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.5)
    ref = {"state_dict": model.state_dict(), "tokens": {}, "next": {}, "expected": {}}

    for name, (B, T, new, _, seed) in GREEDY.items():
        prompt = _prompt(seed, B, T)
        out = _hf_generate(model, prompt, new, seed, do_sample=False)
        if not _margins_ok(model, out, T):  # the grader's own data must be unambiguous
            raise RuntimeError(f"greedy case {name} has a near tie: choose another seed for it")
        ref["tokens"][name] = (prompt, {"max_new_tokens": new, "do_sample": False}, seed)
        ref["expected"][name] = out
    for name, (B, T, new, settings, seed) in SAMPLED.items():
        prompt = _prompt(seed, B, T)
        top_k = settings["top_k"] if settings["top_k"] is not None else 0  # HF's default top_k is 50
        out = _hf_generate(model, prompt, new, seed, do_sample=True, temperature=settings["temperature"], top_k=top_k)
        ref["tokens"][name] = (prompt, {"max_new_tokens": new, "do_sample": True, **settings}, seed)
        ref["expected"][name] = out
    for name, (greedy_case, settings, seed) in AS_GREEDY.items():
        prompt, kwargs, _ = ref["tokens"][greedy_case]
        ref["tokens"][name] = (prompt, {"max_new_tokens": kwargs["max_new_tokens"], **settings}, seed)
        ref["expected"][name] = ref["expected"][greedy_case]

    with torch.no_grad():
        for name, (B, T, settings, seed) in NEXT_GREEDY.items():
            prompt = _prompt(seed, B, T)
            logits = model(prompt).logits[:, -1]  # (B, vocab_size)
            top2 = logits.topk(2, dim=-1).values
            assert ((top2[:, 0] - top2[:, 1]) >= MIN_MARGIN).all(), f"next-token case {name} has a near tie"
            ref["next"][name] = (prompt, settings, seed)
            ref["expected"][name] = logits.argmax(dim=-1)
        for name, (B, T, settings, seed) in NEXT_SAMPLED.items():
            prompt = _prompt(seed, B, T)
            scores = model(prompt).logits[:, -1]
            scores = TemperatureLogitsWarper(settings["temperature"])(prompt, scores)
            if settings.get("top_k"):
                scores = TopKLogitsWarper(settings["top_k"])(prompt, scores)
            torch.manual_seed(seed)
            ref["next"][name] = (prompt, settings, seed)
            ref["expected"][name] = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)

        # distribution checks: one batch of ROWS identical rows per prompt
        prompts = _prompt(50, TOPK_PROMPTS, 3)
        ref["next"]["top-k"] = (prompts.repeat_interleave(ROWS, dim=0), {"top_k": TOPK, "temperature": 1.0}, 50)
        ref["top_sets"] = [set(row.tolist()) for row in model(prompts).logits[:, -1].topk(TOPK, dim=-1).indices]
        prompt = _prompt(51, 1, 4)
        ref["next"]["frequencies"] = (prompt.repeat(ROWS, 1), {"temperature": FREQ_TEMPERATURE}, 51)
        ref["probs"] = torch.softmax(model(prompt).logits[0, -1] / FREQ_TEMPERATURE, dim=-1)  # (vocab_size,)
    return ref


@pytest.fixture(scope="module")
def tokens(student, reference):
    return student.call(generate_results, CONFIG, reference["state_dict"], reference["tokens"])


@pytest.fixture(scope="module")
def nexts(student, reference):
    return student.call(next_token_results, CONFIG, reference["state_dict"], reference["next"])


def _sequence(tokens, reference, name):
    prompt, kwargs, _ = reference["tokens"][name]
    got = tokens[name]
    B, T = prompt.shape
    want = (B, T + kwargs["max_new_tokens"])
    expect(isinstance(got, torch.Tensor), f"generate_tokens should return a tensor of shape {want}, but it returned {describe(got)}")
    expect(tuple(got.shape) == want, f"generate_tokens returned shape {tuple(got.shape)} for a prompt of shape {(B, T)} and max_new_tokens={kwargs['max_new_tokens']}, but {want} was expected")
    return prompt, got


def _first_difference(got, expected, T) -> str:
    diff = (got != expected).nonzero()
    row, col = (int(i) for i in diff[0])
    return (
        f"row {row} differs from transformers' at new token {col - T + 1}: "
        f"got {got[row, T:].tolist()}, expected {expected[row, T:].tolist()}"
    )


def _token_ids(value, B, what="generate_next_token"):
    expect(isinstance(value, torch.Tensor), f"{what} should return a tensor of shape ({B},), but it returned {describe(value)}")
    expect(tuple(value.shape) == (B,), f"{what} returned shape {tuple(value.shape)} for a batch of {B}, but ({B},) was expected")
    expect(value.dtype == torch.long, f"{what} returned dtype {value.dtype}, but token ids are torch.long (int64)")


# -- checks: generate_tokens against transformers' generate -------------------------


@pytest.mark.parametrize("case", list(GREEDY))
@check(
    "greedy generate_tokens equals transformers' generate(do_sample=False)",
    hint="Each step: logits of the last position, argmax over the vocabulary, append, and feed the whole sequence again.",
    weight=1.5,
)
def test_greedy_matches(tokens, reference, case):
    prompt, got = _sequence(tokens, reference, case)
    expected = reference["expected"][case]
    if not torch.equal(got, expected):
        fail("greedy generation " + _first_difference(got, expected, prompt.shape[1]))


@pytest.mark.parametrize("case", list(SAMPLED))
@check(
    "sampling equals transformers' generate(do_sample=True) with the same seed",
    hint="Divide by temperature, then keep the top_k largest (others -inf), softmax, and one torch.multinomial draw per step.",
)
def test_sampling_matches(tokens, reference, case):
    prompt, got = _sequence(tokens, reference, case)
    expected = reference["expected"][case]
    if not torch.equal(got, expected):
        fail("after the same torch.manual_seed, sampling " + _first_difference(got, expected, prompt.shape[1]))


@pytest.mark.parametrize("case", list(AS_GREEDY))
@check("{case} gives the greedy output", hint="top_k=1 keeps one token and a tiny temperature makes softmax one-hot; do_sample=False ignores both.")
def test_as_greedy(tokens, reference, case):
    prompt, got = _sequence(tokens, reference, case)
    expected = reference["expected"][case]
    if not torch.equal(got, expected):
        fail(f"with {case} the output should be the greedy one, but " + _first_difference(got, expected, prompt.shape[1]))


@check("generate_tokens keeps the prompt at the start of its output", hint="Return the whole sequence: the prompt, then the new tokens.")
def test_prompt_kept(tokens, reference):
    for name in reference["tokens"]:
        prompt, got = _sequence(tokens, reference, name)
        expect(torch.equal(got[:, : prompt.shape[1]], prompt), f"the output should start with the prompt {prompt.tolist()}, but it starts with {got[:, : prompt.shape[1]].tolist()}")


# -- checks: generate_next_token -----------------------------------------------------


@pytest.mark.parametrize("case", list(NEXT_GREEDY))
@check("greedy generate_next_token picks the argmax of the last position's logits", hint="With do_sample=False: torch.argmax(logits[:, -1, :], dim=-1).", weight=1.5)
def test_next_greedy(nexts, reference, case):
    prompt = reference["next"][case][0]
    _token_ids(nexts[case], prompt.shape[0])
    assert_close(nexts[case], reference["expected"][case], what=f"the greedy next tokens for prompts of shape {tuple(prompt.shape)}")


@pytest.mark.parametrize("case", list(NEXT_SAMPLED))
@check(
    "sampled generate_next_token equals transformers' temperature and top-k warpers with the same seed",
    hint="Order matters for the random draw: logits / temperature, top-k mask with -inf, softmax, torch.multinomial(probs, 1).",
)
def test_next_sampled(nexts, reference, case):
    prompt, settings, seed = reference["next"][case]
    _token_ids(nexts[case], prompt.shape[0])
    assert_close(nexts[case], reference["expected"][case], what=f"the draw after torch.manual_seed({seed}) with {settings}")


@check("sampled tokens always lie in the top-k set", hint="Keep the top_k largest logits (torch.topk) and set every other logit to -inf.", weight=1.5)
def test_in_top_k(nexts, reference):
    got = nexts["top-k"]
    _token_ids(got, TOPK_PROMPTS * ROWS)
    for index, allowed in enumerate(reference["top_sets"]):
        drawn = set(got[index * ROWS : (index + 1) * ROWS].tolist())
        outside = sorted(drawn - allowed)
        expect(not outside, f"with top_k={TOPK}, {ROWS} draws for one prompt gave tokens {outside} outside its top {TOPK} {sorted(allowed)}")
        expect(drawn == allowed, f"with top_k={TOPK} and temperature 1, {ROWS} draws gave only {sorted(drawn)} of the top {TOPK} {sorted(allowed)}: are you sampling?")


@check(
    "sampled tokens follow softmax(logits / temperature)",
    hint="Divide the logits by temperature (not multiply) before softmax, and sample each row independently.",
    weight=1.5,
)
def test_frequencies(nexts, reference):
    got = nexts["frequencies"]
    _token_ids(got, ROWS)
    counts = torch.bincount(got.clamp(0, V - 1), minlength=V).double() / ROWS
    probs = reference["probs"].double()
    allowed = 4 * (probs * (1 - probs) / ROWS).sqrt() + 0.01  # 4 standard deviations
    off = (counts - probs).abs() > allowed
    if off.any():
        token = int(((counts - probs).abs() - allowed).argmax())
        fail(
            f"with temperature {FREQ_TEMPERATURE}, token {token} was drawn in {counts[token]:.0%} of {ROWS} draws, "
            f"but softmax(logits / temperature) gives it {probs[token]:.0%}"
        )
