"""Visible checks for step 12: run them with `python -m grading check 12`.

They use a toy language model over the 5-token vocabulary of the guide
(the, cat, sat, on, mat) whose logits at a position depend only on the token
there, so every expected answer can be read off its table.

Sampling is checked by its distribution, never against one random stream, so
any correct way of drawing passes: ``torch.multinomial`` over the whole
vocabulary, over the k kept tokens then ``gather``, Gumbel-max,
``torch.distributions.Categorical``. Many identical rows are drawn in one
batch and the counts are compared with the exact probabilities (the helpers
below, which the hidden checks use too). A correct sampler fails these checks
with probability below 5e-7 (see ``frequency_threshold``)."""

import math

import pytest
import torch

from grading.engine.checks import check, describe, expect, fail, manual_seed

WORDS = ["the", "cat", "sat", "on", "mat"]
# Row i: the logits for the token that follows token i (the guide's table).
TABLE = torch.tensor(
    [
        [0.0, 3.0, 1.0, 0.5, 2.0],  # after "the": cat > mat > sat > on > the
        [0.5, 0.0, 3.0, 1.0, 2.0],  # after "cat": sat
        [1.0, 0.5, 0.0, 3.0, 2.0],  # after "sat": on
        [3.0, 0.5, 1.0, 0.0, 2.0],  # after "on": the
        [2.0, 1.0, 0.5, 3.0, 0.0],  # after "mat": on
    ]
)
TOP2_AFTER_THE = {1, 4}  # cat and mat
MANY = 200  # rows of one batch, for the top-k check
SAMPLE_PROMPTS = torch.tensor([[1, 0], [3, 4]])  # "cat the" and "on mat": each row ends in a different word
SAMPLE_ROWS = 2000  # draws per prompt for the temperature check
SAMPLE_TEMPERATURE = 2.0

NEXT_CASES = {
    "greedy-B2": (torch.tensor([[0, 1, 2], [3, 4, 4]]), {"do_sample": False}, 0),
    # the prompts interleaved: row r holds prompt r % 2
    "sample-temperature2": (SAMPLE_PROMPTS.repeat(SAMPLE_ROWS, 1), {"temperature": SAMPLE_TEMPERATURE}, 6),
    "top2-B200": (torch.zeros(MANY, 1, dtype=torch.long), {"top_k": 2}, 1),
}
TOKEN_CASES = {
    "greedy-B2-T1-new6": (torch.tensor([[0], [4]]), {"max_new_tokens": 6, "do_sample": False}, 0),
    "sample-B1-T2-new4": (torch.tensor([[0, 1]]), {"max_new_tokens": 4, "temperature": 1.0}, 3),
}
GREEDY_FROM = {"greedy-B2-T1-new6": [[0, 1, 2, 3, 0, 1, 2], [4, 3, 0, 1, 2, 3, 0]]}


class ToyModel(torch.nn.Module):
    """A bigram language model: logits at each position come from one table row."""

    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, input_ids):
        return self.table[input_ids]  # (B, T) -> (B, T, vocab_size)


# -- probes: they run in the worker, `step` is the submission's step_12 ------------


def next_tokens(step, table, cases):
    """generate_next_token on the toy model, each case after its own seed."""
    model, out = ToyModel(table), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        manual_seed(seed)
        out[name] = step.generate_next_token(model, input_ids.clone(), **kwargs)
    return out


def token_sequences(step, table, cases):
    """generate_tokens on the toy model, each case after its own seed."""
    model, out = ToyModel(table), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        manual_seed(seed)
        out[name] = step.generate_tokens(model, input_ids.clone(), **kwargs)
    return out


# -- sampling is graded by its distribution (these helpers serve the hidden checks too) --


def frequency_threshold(cells: int, false_failure: float, slack: float = 0.0) -> float:
    """The bound tau on n * KL(share || p) at which one cell (a token's count
    in n draws from one distribution) fails, for at most ``false_failure``
    false failures over ``cells`` cells.

    A correct sampler's count X of a token is Binomial(n, p). The Chernoff
    bound in its KL form gives P(X >= n q) <= exp(-n KL(q || p)) for q >= p
    and P(X <= n q) <= exp(-n KL(q || p)) for q <= p, where
    KL(q || p) = q ln(q / p) + (1 - q) ln((1 - q) / (1 - p)). KL(. || p) is
    convex with its minimum 0 at p, so {n KL(X / n || p) > tau} is one tail on
    each side, each of probability <= exp(-tau): a cell fails falsely with
    probability <= 2 exp(-tau), and the union bound over all cells gives
    <= 2 * cells * exp(-tau) = false_failure for tau = ln(2 * cells / false_failure).
    ``slack`` is added for probabilities known only to a small error."""
    return math.log(2 * cells / false_failure) + slack


def bernoulli_kl(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """KL(q || p) between Bernoulli(q) and Bernoulli(p), elementwise: 0 where
    q == p, infinite where p is 0 (or 1) and q is not."""
    q, p = q.double(), p.double()
    return torch.xlogy(q, q) - torch.xlogy(q, p) + torch.xlogy(1 - q, 1 - q) - torch.xlogy(1 - q, 1 - p)


def token_counts(draws: torch.Tensor, vocab_size: int, what: str) -> torch.Tensor:
    """How often each token id was drawn, (vocab_size,); an id outside the
    vocabulary fails the check."""
    bad = (draws < 0) | (draws >= vocab_size)
    expect(
        not bad.any(),
        f"{what} drew token id {int(draws[bad][0]) if bad.any() else 0}, but the vocabulary has "
        f"{vocab_size} tokens (ids 0 to {vocab_size - 1})",
    )
    return torch.bincount(draws, minlength=vocab_size)


def outside_support(counts: torch.Tensor, probs: torch.Tensor) -> list[int]:
    """Tokens that were drawn although their probability is 0 (masked by top-k)."""
    return ((counts > 0) & (probs == 0)).nonzero().flatten().tolist()


def never_drawn(counts: torch.Tensor, probs: torch.Tensor, threshold: float) -> list[int]:
    """Likely tokens that never came up: P(X = 0) = (1 - p)^n, and
    -n ln(1 - p) = n KL(0 || p) > threshold is the same event as in
    ``frequency_threshold``, so this spends no extra false-failure budget."""
    n = int(counts.sum())
    likely = -n * torch.log1p(-probs.double()) > threshold
    return ((counts == 0) & likely & (probs > 0)).nonzero().flatten().tolist()


def worst_frequency(counts: torch.Tensor, probs: torch.Tensor, threshold: float) -> int | None:
    """The token whose share of the draws is furthest beyond chance
    (n KL(share || p) > threshold), or None if every share is within it."""
    n = int(counts.sum())
    if n == 0:
        return None
    statistic = n * bernoulli_kl(counts.double() / n, probs)
    token = int(statistic.argmax())
    return token if statistic[token] > threshold else None


def percent(x) -> str:
    """A share as a student reads it: 31%, or 3.5% below 10%."""
    x = float(x)
    return f"{x:.1%}" if x < 0.1 else f"{x:.0%}"


VISIBLE_FALSE_FAILURE = 5e-7  # this module's half of the 1e-6 per run; the hidden checks spend the other half
# Cells: the temperature check's 2 prompts x 5 tokens and the top-k check's 2 kept tokens. The slack covers a
# sampler's float32 softmax of the table against ours in float64 (n KL moves by under 1e-3).
VISIBLE_THRESHOLD = frequency_threshold(len(SAMPLE_PROMPTS) * len(WORDS) + 2, VISIBLE_FALSE_FAILURE, slack=0.01)


def _words(ids) -> str:
    return " ".join(WORDS[i] for i in ids)


# -- checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def next_out(student):
    return student.call(next_tokens, TABLE, NEXT_CASES)


@pytest.fixture(scope="module")
def tokens_out(student):
    return student.call(token_sequences, TABLE, TOKEN_CASES)


def _token_ids(value, B, what):
    expect(isinstance(value, torch.Tensor), f"{what} should return a tensor of shape ({B},), but it returned {describe(value)}")
    expect(
        tuple(value.shape) == (B,),
        f"{what} returned shape {tuple(value.shape)} for a batch of {B}, but ({B},) was expected: one token id per row",
    )
    expect(value.dtype == torch.long, f"{what} returned dtype {value.dtype}, but token ids are torch.long (int64)")


@check(
    "generate_next_token returns one token id per row, shape (B,)",
    hint="Take the logits of the last position, logits[:, -1, :], then pick one id per row (TODO 1).",
)
def test_next_token_shape(next_out):
    _token_ids(next_out["greedy-B2"], 2, "generate_next_token")


@check(
    "greedy decoding picks the highest logit at the last position",
    hint="With do_sample=False return torch.argmax over the vocabulary dimension (dim=-1) (TODO 2).",
)
def test_greedy_next(next_out):
    got = next_out["greedy-B2"]
    _token_ids(got, 2, "generate_next_token")
    prompts = NEXT_CASES["greedy-B2"][0]
    expected = TABLE[prompts[:, -1]].argmax(dim=-1)
    for row in range(2):
        expect(
            got[row] == expected[row],
            f"after '{_words(prompts[row])}' greedy decoding should pick '{WORDS[expected[row]]}' (the highest logit "
            f"after '{WORDS[prompts[row, -1]]}'), but it picked token {int(got[row])}",
        )


@check(
    "sampling draws from softmax(logits / temperature)",
    hint="probs = softmax(logits / temperature, dim=-1), then one random draw per row, e.g. torch.multinomial(probs, num_samples=1) (TODOs 3 and 5).",
)
def test_sampling(next_out):
    batch = NEXT_CASES["sample-temperature2"][0]
    got = next_out["sample-temperature2"]
    _token_ids(got, len(batch), "generate_next_token")
    for index, prompt in enumerate(SAMPLE_PROMPTS):
        probs = torch.softmax(TABLE[prompt[-1]].double() / SAMPLE_TEMPERATURE, dim=-1)  # (vocab_size,)
        counts = token_counts(got[index :: len(SAMPLE_PROMPTS)], len(WORDS), "generate_next_token")
        token = worst_frequency(counts, probs, VISIBLE_THRESHOLD)
        if token is not None:
            fail(
                f"with temperature {SAMPLE_TEMPERATURE:g} after '{_words(prompt)}', '{WORDS[token]}' was drawn in "
                f"{percent(counts[token] / SAMPLE_ROWS)} of {SAMPLE_ROWS} draws, but softmax(logits / temperature) "
                f"gives it {percent(probs[token])}"
            )


@check(
    "top-k sampling draws only from the k most likely tokens",
    hint="Keep the top_k largest logits (torch.topk) and set the others to -inf before the softmax (TODO 4).",
)
def test_top_k(next_out):
    got = next_out["top2-B200"]
    _token_ids(got, MANY, "generate_next_token")
    counts = token_counts(got, len(WORDS), "generate_next_token")
    probs = torch.zeros(len(WORDS), dtype=torch.double)
    probs[sorted(TOP2_AFTER_THE)] = torch.softmax(TABLE[0, sorted(TOP2_AFTER_THE)].double(), dim=-1)  # cat, mat
    outside = outside_support(counts, probs)
    expect(
        not outside,
        f"with top_k=2 after 'the' only 'cat' and 'mat' may be drawn, but {MANY} draws also gave "
        f"{', '.join(f'{WORDS[t]!r} ({int(counts[t])} times)' for t in outside)}",
    )
    missing = never_drawn(counts, probs, VISIBLE_THRESHOLD)
    expect(
        not missing,
        f"with top_k=2 after 'the', {MANY} draws never gave {', '.join(repr(WORDS[t]) for t in missing)}, though "
        f"softmax(top_k(logits)) gives {'it' if len(missing) == 1 else 'them'} "
        f"{', '.join(percent(probs[t]) for t in missing)}: does your top-k keep both tokens, and is it sampling?",
    )


@pytest.mark.parametrize("case", list(TOKEN_CASES))
@check(
    "generate_tokens returns the prompt followed by max_new_tokens tokens",
    hint="Append each new token to input_ids with torch.cat(..., dim=1) and return the whole sequence (TODO 6).",
)
def test_tokens_shape(tokens_out, case):
    prompts, kwargs, _ = TOKEN_CASES[case]
    got = tokens_out[case]
    B, T = prompts.shape
    want = (B, T + kwargs["max_new_tokens"])
    expect(isinstance(got, torch.Tensor), f"generate_tokens should return a tensor of shape {want}, but it returned {describe(got)}")
    expect(tuple(got.shape) == want, f"generate_tokens returned shape {tuple(got.shape)} but {want} was expected")
    expect(torch.equal(got[:, :T], prompts), f"the output should start with the prompt {prompts.tolist()}, but it starts with {got[:, :T].tolist()}")


@check(
    "greedy generate_tokens follows the highest logits",
    hint="Each step must feed the whole sequence so far, the prompt and every token generated, back to the model.",
)
def test_greedy_tokens(tokens_out):
    got = tokens_out["greedy-B2-T1-new6"]
    expected = torch.tensor(GREEDY_FROM["greedy-B2-T1-new6"])
    expect(isinstance(got, torch.Tensor) and got.shape == expected.shape, f"generate_tokens returned {describe(got)}, but shape {tuple(expected.shape)} was expected")
    for row in range(expected.shape[0]):
        if not torch.equal(got[row], expected[row]):
            fail(f"greedy generation from '{WORDS[expected[row, 0]]}' should write '{_words(expected[row])}', but it wrote {got[row].tolist()}")
