"""Visible checks for step 02: run them with `python -m grading check 2`."""

import math

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail

INF = math.inf

# The mask of the guide: 4 tokens, nothing seen before them.
KNOWN_4x4 = torch.tensor(
    [
        [0.0, -INF, -INF, -INF],
        [0.0, 0.0, -INF, -INF],
        [0.0, 0.0, 0.0, -INF],
        [0.0, 0.0, 0.0, 0.0],
    ]
)
# 2 new tokens after 3 already seen: each row may see 3 more keys.
KNOWN_2x5 = torch.tensor(
    [
        [0.0, 0.0, 0.0, 0.0, -INF],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)


def masks(step, calls):
    """Runs in the worker: `calls` maps a case id to (args, kwargs) for
    causal_mask; returns what each call gave back."""
    return {case: step.causal_mask(*args, **kwargs) for case, (args, kwargs) in calls.items()}


CALLS = {
    "T4": ((4,), {}),
    "T2-num_tokens3": ((2,), {"num_tokens": 3}),
}


@pytest.fixture(scope="module")
def got(student):
    return student.call(masks, CALLS)


@check(
    "causal_mask(4) has shape (4, 4) and dtype float32",
    hint="Make the mask with torch.full or torch.zeros of shape (sequence_length, sequence_length + num_tokens), passing dtype=dtype.",
)
def test_shape_and_dtype(got):
    mask = got["T4"]
    if not isinstance(mask, torch.Tensor):
        fail(f"causal_mask(4) should return a tensor of shape (4, 4), but it returned {describe(mask)}")
    expect(tuple(mask.shape) == (4, 4), f"causal_mask(4) returned shape {tuple(mask.shape)}, but (4, 4) was expected")
    expect(mask.dtype == torch.float32, f"causal_mask(4) returned dtype {str(mask.dtype).replace('torch.', '')}, but the default dtype is float32")


@check(
    "causal_mask(4) is 0 on and below the diagonal, -inf above",
    hint="Query i (row) may see key j (column) when j <= i; use float('-inf') for the others, not a large negative number.",
    weight=2,
)
def test_known_mask(got):
    assert_close(got["T4"], KNOWN_4x4, what="causal_mask(4)")


@check(
    "causal_mask(2, num_tokens=3) has shape (2, 5) and lets each query see the 3 earlier tokens",
    hint="With num_tokens earlier tokens there are sequence_length + num_tokens keys, and query i may see key j when j <= i + num_tokens.",
    weight=2,
)
def test_num_tokens(got):
    assert_close(
        got["T2-num_tokens3"],
        KNOWN_2x5,
        what="causal_mask(2, 3)",
        hint_shape="the number of columns is sequence_length + num_tokens",
    )
