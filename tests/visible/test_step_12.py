"""Visible checks for step 12: run them with `python -m grading check 12`.

They use a toy language model over the 5-token vocabulary of the guide
(the, cat, sat, on, mat) whose logits at a position depend only on the token
there, so every expected answer can be read off its table."""

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail

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

NEXT_CASES = {
    "greedy-B2": (torch.tensor([[0, 1, 2], [3, 4, 4]]), {"do_sample": False}, 0),
    "sample-B6-temperature2": (torch.tensor([[1, 0], [0, 1], [1, 2], [2, 3], [3, 4], [2, 0]]), {"temperature": 2.0}, 6),
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
    import torch

    model, out = ToyModel(table), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        torch.manual_seed(seed)
        out[name] = step.generate_next_token(model, input_ids.clone(), **kwargs)
    return out


def token_sequences(step, table, cases):
    """generate_tokens on the toy model, each case after its own seed."""
    import torch

    model, out = ToyModel(table), {}
    for name, (input_ids, kwargs, seed) in cases.items():
        torch.manual_seed(seed)
        out[name] = step.generate_tokens(model, input_ids.clone(), **kwargs)
    return out


# -- the reference: the sampling recipe, written out -------------------------------


def expected_sample(logits, seed, temperature=1.0, top_k=None):
    """softmax(logits / temperature) over the top_k largest, one torch.multinomial draw per row."""
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    torch.manual_seed(seed)
    return torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1).squeeze(-1)


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
    "sampling divides by temperature, takes softmax and draws with torch.multinomial",
    hint="probs = softmax(logits / temperature, dim=-1); torch.multinomial(probs, num_samples=1) (TODOs 3 and 5).",
)
def test_sampling(next_out):
    prompts, kwargs, seed = NEXT_CASES["sample-B6-temperature2"]
    got = next_out["sample-B6-temperature2"]
    _token_ids(got, len(prompts), "generate_next_token")
    expected = expected_sample(TABLE[prompts[:, -1]], seed, temperature=kwargs["temperature"])
    assert_close(got, expected, what=f"the draw after torch.manual_seed({seed}) with temperature 2")


@check(
    "top-k sampling draws only from the k most likely tokens",
    hint="Keep the top_k largest logits (torch.topk) and set the others to -inf before the softmax (TODO 4).",
)
def test_top_k(next_out):
    got = next_out["top2-B200"]
    _token_ids(got, MANY, "generate_next_token")
    drawn = {int(t) for t in got}
    outside = drawn - TOP2_AFTER_THE
    expect(
        not outside,
        f"with top_k=2 after 'the' only 'cat' and 'mat' may be drawn, but {MANY} draws also gave "
        f"{sorted(WORDS[t] if 0 <= t < 5 else str(t) for t in outside)}",
    )
    expect(drawn == TOP2_AFTER_THE, f"with top_k=2 after 'the', {MANY} draws gave only {sorted(WORDS[t] for t in drawn)}: is it sampling?")


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
