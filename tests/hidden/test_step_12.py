"""Hidden checks for step 12: the student's generate_next_token and
generate_tokens drive a reference model (the grader's step 11 reference,
holding the weights of a tiny transformers GPT2LMHeadModel with every
parameter random), so only the decoding logic is graded.

Greedy output must equal transformers' ``generate(do_sample=False)`` token for
token, and so must ``top_k=1`` and a tiny temperature, whatever the method.
Every greedy path used has a clear margin between its two best logits, so
float noise cannot flip a token. The prompt must be kept.

Sampling is graded by its distribution, not by one random stream, so every
correct sampler earns full marks: ``torch.multinomial`` over the masked
vocabulary (which also reproduces transformers' own stream), multinomial over
the k kept entries then ``gather``, Gumbel-max, ``torch.distributions.Categorical``,
``torch.rand`` with a cumulative sum. For each sampled case the worker calls
the student's function once, after ``manual_seed`` (so a grade never
changes between runs), on one batch of B distinct prompts, each repeated
ROWS = 2000 times and interleaved (row r holds prompt r % B): each row must be
drawn on its own, and mixing rows (a softmax over the batch) shows. The model
computes each distinct row once, so the repeats cost nothing. The judge takes
the exact distribution of each prompt's next token,
p = softmax(top_k(logits / temperature)), from transformers' own logits and
its ``TemperatureLogitsWarper`` and ``TopKLogitsWarper``, and tests every
*cell* (one prompt and one token with p > 0; n draws of which X are that token):

* support, exactly: a token with p = 0 (outside the top-k set) drawn even
  once fails; a token never drawn fails when -n ln(1 - p) > tau (k - 1 kept);
* frequency: a cell fails when n KL(X / n || p) > tau, KL(q || p) =
  q ln(q / p) + (1 - q) ln((1 - q) / (1 - p)) (Bernoulli).

``generate_tokens(do_sample=True)`` is tested the same way at every new
token: the rows are grouped by the sequence before that token (the prompt and
the earlier new tokens), and the group's next tokens must follow p(. | that
sequence). So a loop that only ever feeds the prompt, or does not pass the
settings on, fails.

The false-failure rate of a correct sampler. For one cell X ~ Binomial(n, p),
and the Chernoff bound in KL form, P(X >= n q) <= exp(-n KL(q || p)) for
q >= p and P(X <= n q) <= exp(-n KL(q || p)) for q <= p, with KL(. || p)
convex and 0 only at p, give P(n KL(X / n || p) > tau) <= 2 exp(-tau): one
tail on each side. A never-drawn failure is that same event (X = 0 and
n KL(0 || p) = -n ln(1 - p)), so it costs nothing more. For sequences the
bound holds in each group given its prefix, since the rows' next tokens are
then independent draws from p(. | prefix), whatever the group sizes. The union
bound over all M cells gives P(any false failure) <= 2 M exp(-tau). Here
M = 16 + 183 + 4 + 12 (next tokens: prompts x kept tokens) + 78 (sequences:
2 prompts x (3 + 9 + 27) prefix-token pairs) = 293, and
tau = ln(2 M / 5e-7) + 0.08 = 20.96, so P <= 5e-7: at most 1e-6 per run with
the visible checks' 5e-7. The 0.08 covers that the student samples from the
worker's float32 logits, which agree with transformers' within 1e-5 (the
fixture asserts it): ln p and ln(1 - p) are differences of two log-sum-exps
of logits / temperature, so they move by at most 2e-5 / temperature, and
n KL by at most n * 2e-5 / 0.5 = 0.08. The top-k boundary of every prompt
and prefix has a logit margin of at least 0.01, so the kept set cannot differ.
(A correct sampler at temperature 1e-4 leaves the greedy token with
probability below 60 exp(-100) per draw: nothing to add.)

The cases are chosen so that each catalogued mistake is far past tau: the
k-th and (k+1)-th tokens have several percent of the mass, and temperatures
0.5 and 2 make dividing, multiplying and ignoring the temperature differ by
factors of 2 to 4 in the logits.
"""

import math

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail, manual_seed, reference_fixture
from tests.visible.test_step_12 import (
    frequency_threshold,
    never_drawn,
    outside_support,
    percent,
    token_counts,
    worst_frequency,
)

CONFIG = {"vocab_size": 61, "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 128}
V = CONFIG["vocab_size"]
MODEL_SEED = 1200
MIN_MARGIN = 0.01  # between the best and second-best logit on every greedy path used, and at every top-k boundary
LOGIT_AGREEMENT = 1e-5  # the reference model's logits and transformers' agree within this (the fixture asserts it)

# generate_tokens: (batch, prompt length, new tokens, settings, seed of the prompt and the draws);
# the greedy seeds were chosen for a clear margin (the fixture asserts it)
GREEDY = {
    "B1-T1-new6": (1, 1, 6, {}, 4),
    "B2-T4-new5": (2, 4, 5, {}, 14),
    "B3-T2-new4": (3, 2, 4, {}, 7),
}
# Any correct method: same output as greedy, whatever the seed.
AS_GREEDY = {
    "top_k=1": ("B2-T4-new5", {"do_sample": True, "top_k": 1}, 21),
    "temperature=1e-4": ("B3-T2-new4", {"do_sample": True, "temperature": 1e-4}, 22),
    "do_sample=False-ignores-temperature-and-top_k": ("B1-T1-new6", {"do_sample": False, "temperature": 0.5, "top_k": 3}, 23),
}
# generate_next_token: (prompt, settings, seed)
NEXT_GREEDY = {"B3-T4": (3, 4, {"do_sample": False}, 34), "B2-T1": (2, 1, {"do_sample": False}, 31)}

# -- sampling, graded by its distribution (see the module docstring) ---------------
ROWS = 2000  # draws per distinct prompt: each prompt fills ROWS rows of one batch
FALSE_FAILURE = 5e-7  # this module's half of the 1e-6 per run; the visible checks spend the other half
# generate_next_token: (distinct prompts B, prompt length T, settings, seed of the prompts and the draws)
NEXT_SAMPLED = {
    "B4-T3-temperature0.5-top4": (4, 3, {"temperature": 0.5, "top_k": 4}, 42),
    "B3-T1-temperature2": (3, 1, {"temperature": 2.0, "top_k": None}, 40),
    "B2-T2-temperature1-top2": (2, 2, {"temperature": 1.0, "top_k": 2}, 41),
    "B2-T4-temperature2-top6": (2, 4, {"temperature": 2.0, "top_k": 6}, 45),
}
# generate_tokens: (distinct prompts B, prompt length T, new tokens, settings, seed); with a top_k, so
# only B * (k + k^2 + ...) prefix-token pairs can occur
GENERATED = {
    "B2-T1-new3-temperature0.5-top3": (2, 1, 3, {"temperature": 0.5, "top_k": 3}, 65),
}
assert all(settings["top_k"] for _, _, _, settings, _ in GENERATED.values()), "sequence cases need a top_k"


def _cells(B: int, settings: dict, new: int = 1) -> int:
    """Cells (a prefix and a token it can be followed by) one case tests."""
    k = settings["top_k"] or V
    return B * sum(k**step for step in range(1, new + 1))


CELLS = sum(_cells(B, settings) for B, _, settings, _ in NEXT_SAMPLED.values()) + sum(
    _cells(B, settings, new) for B, _, new, settings, _ in GENERATED.values()
)
FLOAT_SLACK = 2 * ROWS * LOGIT_AGREEMENT / min(
    s["temperature"] for s in [c[2] for c in NEXT_SAMPLED.values()] + [c[3] for c in GENERATED.values()]
)
THRESHOLD = frequency_threshold(CELLS, FALSE_FAILURE, slack=FLOAT_SLACK)  # tau, about 20.96


# -- the model the student's functions drive (built in the worker) ------------------


def hf_config(config_kwargs: dict):
    from transformers import GPT2Config as HFConfig

    return HFConfig(
        **config_kwargs,
        activation_function="gelu_new",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None,  # no end-of-text: generate never stops early
    )  # fmt: skip


CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def distinct_rows(input_ids):
    """``torch.unique(input_ids, dim=0, return_inverse=True)``: the distinct
    rows, sorted, and for each row the index of its distinct row. Short rows
    of token ids are read as numbers in base V first, which is many times faster."""
    import torch

    B, T = input_ids.shape
    if input_ids.dtype == torch.long and B and T * math.log2(V) < 62 and input_ids.min() >= 0 and input_ids.max() < V:
        keys = (input_ids * V ** torch.arange(T - 1, -1, -1)).sum(dim=1)  # (B,): one number per row, same order
        distinct_keys, inverse = torch.unique(keys, return_inverse=True)
        first = torch.empty(len(distinct_keys), dtype=torch.long).scatter_(0, inverse, torch.arange(B))
        return input_ids[first], inverse  # (D, T), (B,)
    return torch.unique(input_ids, dim=0, return_inverse=True)


def reference_model(config_kwargs: dict, hf_state: dict):
    """The grader's reference GPT2LMHeadModel (step 11) holding transformers'
    weights: ``model(input_ids)`` returns logits (B, T, vocab_size). It runs
    once per distinct row of ``input_ids`` and copies the result to the rows
    that repeat it, so a batch of thousands of identical prompts costs a few rows."""
    from grading.reference.step_01 import GPT2Config
    from grading.reference.step_11 import GPT2LMHeadModel

    class DistinctRowsLMHeadModel(GPT2LMHeadModel):
        def forward(self, input_ids):
            distinct, inverse = distinct_rows(input_ids)  # (D, T), (B,)
            return super().forward(distinct)[inverse]  # (D, T, vocab_size) -> (B, T, vocab_size)

    model = DistinctRowsLMHeadModel(GPT2Config(**config_kwargs))
    model.load_state_dict({k: (v.t() if k.endswith(CONV1D_WEIGHTS) else v) for k, v in hf_state.items()})
    return model.eval()


# -- probes: they run in the worker, `step` is the submission's step_12 ------------


def next_token_results(step, config_kwargs, state_dict, cases):
    """generate_next_token on the reference model, each case after its own seed."""
    import torch

    model, out = reference_model(config_kwargs, state_dict), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        manual_seed(seed)
        with torch.no_grad():
            out[name] = step.generate_next_token(model, input_ids.clone(), **kwargs)
    return out


def generate_results(step, config_kwargs, state_dict, cases):
    """generate_tokens on the reference model, each case after its own seed."""
    import torch

    model, out = reference_model(config_kwargs, state_dict), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        manual_seed(seed)
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
    manual_seed(seed)
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


def _next_distribution(model, ours, sequences, settings, name):
    """p = softmax(top_k(logits / temperature)) of the token after each
    sequence, (N, vocab_size) in float64, from transformers' logits and its own
    warpers, as ``generate(do_sample=True)`` computes it; and the logits."""
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper

    logits = model(sequences).logits[:, -1]  # (N, vocab_size)
    difference = (ours(sequences)[:, -1] - logits).abs().max().item()
    if difference > LOGIT_AGREEMENT:  # the bound in the docstring relies on it
        raise RuntimeError(f"case {name}: the reference model and transformers differ by {difference:.2g} in a logit")
    scores = TemperatureLogitsWarper(settings["temperature"])(sequences, logits.clone())
    k = settings["top_k"]
    if k:
        scores = TopKLogitsWarper(k)(sequences, scores)
        ranked = logits.sort(dim=-1, descending=True).values
        if not ((ranked[:, k - 1] - ranked[:, k]) >= MIN_MARGIN).all():
            raise RuntimeError(f"case {name} has a near tie at its top-{k} boundary: choose another seed for it")
    return torch.softmax(scores.double(), dim=-1), logits


@reference_fixture
def reference():
    from transformers import GPT2LMHeadModel as HFGPT2LMHeadModel

    manual_seed(MODEL_SEED)
    model = HFGPT2LMHeadModel(hf_config(CONFIG)).eval()
    with torch.no_grad():
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.5)
    ref = {"state_dict": model.state_dict(), "tokens": {}, "next": {}, "expected": {}, "sampled": {}, "generated": {}}
    ours = reference_model(CONFIG, ref["state_dict"])

    for name, (B, T, new, _, seed) in GREEDY.items():
        prompt = _prompt(seed, B, T)
        out = _hf_generate(model, prompt, new, seed, do_sample=False)
        if not _margins_ok(model, out, T):  # the grader's own data must be unambiguous
            raise RuntimeError(f"greedy case {name} has a near tie: choose another seed for it")
        ref["tokens"][name] = (prompt, {"max_new_tokens": new, "do_sample": False}, seed)
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
            prompts = _prompt(seed, B, T)
            probs, _ = _next_distribution(model, ours, prompts, settings, name)
            ref["next"][name] = (prompts.repeat(ROWS, 1), {"do_sample": True, **settings}, seed)  # row r: prompt r % B
            ref["sampled"][name] = {"prompts": prompts, "probs": probs}

        for name, (B, T, new, settings, seed) in GENERATED.items():
            prompts, table, frontier = _prompt(seed, B, T), {}, _prompt(seed, B, T)
            for step in range(new):  # every prefix that can occur, and the distribution after it
                probs, logits = _next_distribution(model, ours, frontier, settings, name)
                table.update({tuple(seq.tolist()): p for seq, p in zip(frontier, probs)})
                kept = logits.topk(settings["top_k"], dim=-1).indices  # (N, k)
                frontier = torch.cat([frontier.repeat_interleave(kept.shape[1], dim=0), kept.reshape(-1, 1)], dim=1)
            ref["tokens"][name] = (prompts.repeat(ROWS, 1), {"max_new_tokens": new, "do_sample": True, **settings}, seed)
            ref["generated"][name] = {"prompt_length": T, "new": new, "settings": settings, "table": table}
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


# -- sampling: the draws of one prompt (or prefix) against its exact distribution ----


def _settings_text(settings) -> str:
    return f"temperature {settings['temperature']:g} and top_k={settings['top_k']}"


def _formula(settings) -> str:
    return "softmax(top_k(logits / temperature))" if settings["top_k"] else "softmax(logits / temperature)"


def _expect_support(draws, probs, settings, where, what):
    """Fail if a draw lies outside the top-k set, or a likely token never came up."""
    counts = token_counts(draws, V, what)
    n = len(draws)
    outside = outside_support(counts, probs)
    if outside:
        token, kept = outside[0], (probs > 0).nonzero().flatten().tolist()
        fail(
            f"with {_settings_text(settings)}, {where}, token {token} was drawn {int(counts[token])} times in {n} draws, "
            f"but it is not among the top {settings['top_k']} tokens {kept}"
        )
    missing = never_drawn(counts, probs, THRESHOLD)
    if missing:
        token = max(missing, key=lambda t: float(probs[t]))
        fail(
            f"with {_settings_text(settings)}, {where}, token {token} was never drawn in {n} draws, "
            f"but {_formula(settings)} gives it {percent(probs[token])}"
        )


def _expect_frequencies(draws, probs, settings, where, what):
    """Fail if a token's share of the draws is further from p than chance allows."""
    counts = token_counts(draws, V, what)
    token = worst_frequency(counts, probs, THRESHOLD)
    if token is not None:
        fail(
            f"with {_settings_text(settings)}, {where}, token {token} was drawn in {percent(counts[token] / len(draws))} "
            f"of {len(draws)} draws, but {_formula(settings)} gives it {percent(probs[token])}"
        )


def _next_groups(nexts, reference, case):
    """For each distinct prompt of the case: (where, its rows' draws, its p)."""
    batch = reference["next"][case][0]
    got = nexts[case]
    _token_ids(got, batch.shape[0])
    prompts, probs = reference["sampled"][case]["prompts"], reference["sampled"][case]["probs"]
    for index, prompt in enumerate(prompts):
        yield f"for the prompt {prompt.tolist()}", got[index :: len(prompts)], probs[index]


def _generated_groups(tokens, reference, case):
    """For each new token, each distinct sequence before it: (where, the next
    tokens of the rows that hold that sequence, its p). In the order of the new
    tokens, so a draw outside the top-k set fails before its followers are looked at."""
    batch, got = _sequence(tokens, reference, case)
    info = reference["generated"][case]
    T = info["prompt_length"]
    expect(got.dtype == torch.long, f"generate_tokens returned dtype {got.dtype}, but token ids are torch.long (int64)")
    expect(torch.equal(got[:, :T], batch), "generate_tokens should return the prompt followed by the new tokens, but its output does not start with the prompt")
    for step in range(info["new"]):
        distinct, inverse = distinct_rows(got[:, : T + step])  # the sequences so far
        for index, prefix in enumerate(distinct.tolist()):
            probs = info["table"].get(tuple(prefix))
            where = f"at new token {step + 1} after the sequence {prefix}"
            expect(probs is not None, f"{where}: that sequence cannot come from top_k={info['settings']['top_k']} sampling")
            yield where, got[inverse == index, T + step], probs


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
        if not torch.equal(got[:, : prompt.shape[1]], prompt):
            row = int((got[:, : prompt.shape[1]] != prompt).any(dim=1).nonzero()[0])
            fail(f"the output should start with the prompt {prompt[row].tolist()}, but row {row} starts with {got[row, : prompt.shape[1]].tolist()}")


@pytest.mark.parametrize("case", list(GENERATED))
@check(
    "sampled generate_tokens draws every new token from the top-k set of the sequence so far",
    hint="Pass temperature, do_sample and top_k on to generate_next_token, and give it the prompt and every token generated so far.",
    weight=1.5,
)
def test_generated_support(tokens, reference, case):
    settings = reference["generated"][case]["settings"]
    for where, draws, probs in _generated_groups(tokens, reference, case):
        _expect_support(draws, probs, settings, where, "generate_tokens")


@pytest.mark.parametrize("case", list(GENERATED))
@check(
    "sampled generate_tokens follows softmax(top_k(logits / temperature)) at every new token",
    hint="Each new token comes from the model's logits for the whole sequence so far, with the same temperature and top_k as the first.",
    weight=1.5,
)
def test_generated_frequencies(tokens, reference, case):
    settings = reference["generated"][case]["settings"]
    for where, draws, probs in _generated_groups(tokens, reference, case):
        _expect_frequencies(draws, probs, settings, where, "generate_tokens")


# -- checks: generate_next_token -----------------------------------------------------


@pytest.mark.parametrize("case", list(NEXT_GREEDY))
@check("greedy generate_next_token picks the argmax of the last position's logits", hint="With do_sample=False: torch.argmax(logits[:, -1, :], dim=-1).", weight=1.5)
def test_next_greedy(nexts, reference, case):
    prompt = reference["next"][case][0]
    _token_ids(nexts[case], prompt.shape[0])
    assert_close(nexts[case], reference["expected"][case], what=f"the greedy next tokens for prompts of shape {tuple(prompt.shape)}")


@pytest.mark.parametrize("case", list(NEXT_SAMPLED))
@check(
    "sampled generate_next_token draws only from the top-k set, and every likely token of it",
    hint="Keep the top_k largest logits of each row (torch.topk) and set all the others to -inf, not 0, before softmax; top_k=None keeps them all.",
    weight=0.75,
)
def test_next_sampled_support(nexts, reference, case):
    settings = reference["next"][case][1]
    for where, draws, probs in _next_groups(nexts, reference, case):
        _expect_support(draws, probs, settings, where, "generate_next_token")


@pytest.mark.parametrize("case", list(NEXT_SAMPLED))
@check(
    "sampled generate_next_token follows softmax(top_k(logits / temperature))",
    hint="Use the last position's logits, divide them by temperature (not multiply), mask to the top_k, softmax over the vocabulary (dim=-1), and draw each row on its own from its probabilities.",
    weight=0.75,
)
def test_next_sampled_frequencies(nexts, reference, case):
    settings = reference["next"][case][1]
    for where, draws, probs in _next_groups(nexts, reference, case):
        _expect_frequencies(draws, probs, settings, where, "generate_next_token")
