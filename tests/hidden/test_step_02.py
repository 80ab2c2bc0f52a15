"""Hidden checks for step 02: causal_mask agrees with a mask built
independently, entry by entry, for many lengths, earlier-token counts,
dtypes and devices."""

import math

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail
from tests.visible.test_step_02 import masks


def expected_mask(T, N, dtype=torch.float32):
    """0 where key j may be seen by query i (j <= i + N), -inf elsewhere."""
    rows = [[0.0 if j <= i + N else -math.inf for j in range(T + N)] for i in range(T)]
    return torch.tensor(rows, dtype=dtype).reshape(T, T + N)


# (sequence_length, num_tokens): T = 1 (one new token while generating),
# T = n_positions = 16, and earlier tokens that fill the context.
SIZES = [(1, 0), (1, 7), (3, 1), (5, 0), (6, 4), (9, 2), (16, 0), (8, 8)]
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}

VALUE_CALLS = {f"T{T}-num_tokens{N}": ((T, N), {}) for T, N in SIZES} | {
    "T5-num_tokens3-keyword": ((5,), {"num_tokens": 3})
}
DTYPE_CALLS = {name: ((5, 2), {"dtype": dtype}) for name, dtype in DTYPES.items()}
DEVICE_CALLS = {
    "device-str": ((4, 1), {"device": "cpu"}),
    "device-object": ((4, 1), {"device": torch.device("cpu"), "dtype": torch.float64}),
}


# The meta device makes torch import torch._dynamo the first time it is used,
# a second or more: a spawned worker imports it before its first call instead.
WORKER_IMPORTS = ("torch._dynamo",)


def mask_on_meta(step, T, N):
    """Runs in the worker: where the mask lives when asked for the `meta`
    device (a device with shapes but no data), as plain facts."""
    mask = step.causal_mask(T, N, device="meta")
    if not isinstance(mask, torch.Tensor):
        return {"tensor": False, "what": describe(mask)}
    return {"tensor": True, "device": mask.device.type, "shape": tuple(mask.shape), "dtype": str(mask.dtype)}


@pytest.fixture(scope="module")
def values(student):
    return student.call(masks, VALUE_CALLS)


@pytest.fixture(scope="module")
def by_dtype(student):
    return student.call(masks, DTYPE_CALLS)


@pytest.fixture(scope="module")
def by_device(student):
    return student.call(masks, DEVICE_CALLS)


@pytest.fixture(scope="module")
def on_meta(student):
    return student.call(mask_on_meta, 3, 2)


def _args(case):
    (args, kwargs) = VALUE_CALLS[case]
    T = args[0]
    N = args[1] if len(args) > 1 else kwargs.get("num_tokens", 0)
    return T, N


@pytest.mark.parametrize("case", list(VALUE_CALLS))
@check(
    "causal_mask matches the causal mask entry by entry",
    hint="Shape (sequence_length, sequence_length + num_tokens); 0 where j <= i + num_tokens, float('-inf') elsewhere.",
    weight=1,
)
def test_values(values, case):
    T, N = _args(case)
    assert_close(
        values[case],
        expected_mask(T, N),
        what=f"causal_mask({T}, {N})",
        hint_shape="the mask has one row per new token and one column per key (num_tokens earlier ones + the new ones)",
    )


@check(
    "blocked entries are exactly -inf and allowed entries exactly 0",
    hint="Use float('-inf') (not -1e9 or torch.finfo(dtype).min) for blocked keys and 0 (not 1) for allowed ones.",
    weight=2,
)
def test_inf_and_zero(values):
    mask = values["T6-num_tokens4"]
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (6, 10):
        fail(f"causal_mask(6, 4) should be a tensor of shape (6, 10), but it was {describe(mask)}")
    want = expected_mask(6, 4)
    wrong_blocked = mask[torch.isinf(want) & (mask != -math.inf)]
    wrong_allowed = mask[(want == 0) & (mask != 0)]
    if len(wrong_blocked):
        fail(f"blocked entries should be -inf, but causal_mask(6, 4) has {wrong_blocked[0].item():g} in one of them")
    if len(wrong_allowed):
        fail(
            f"allowed entries should be 0 (the mask is added to the scores), "
            f"but causal_mask(6, 4) has {wrong_allowed[0].item():g} in one of them"
        )


@pytest.mark.parametrize("dtype", list(DTYPES))
@check(
    "causal_mask(..., dtype={dtype}) returns a {dtype} mask",
    hint="Pass dtype=dtype when you create the mask tensor (torch.zeros / torch.full).",
)
def test_dtype(by_dtype, dtype):
    assert_close(by_dtype[dtype], expected_mask(5, 2, DTYPES[dtype]), what=f"causal_mask(5, 2, dtype=torch.{dtype})")


@pytest.mark.parametrize("case", list(DEVICE_CALLS))
@check(
    "causal_mask accepts a device argument",
    hint="Pass device=device to every tensor you create (torch.arange, torch.zeros, torch.full).",
)
def test_device_argument(by_device, case):
    (args, kwargs) = DEVICE_CALLS[case]
    assert_close(by_device[case], expected_mask(*args, kwargs.get("dtype", torch.float32)), what="causal_mask(4, 1, device=...)")


@check(
    "causal_mask creates the mask on the requested device",
    hint="Pass device=device to every tensor you create (torch.arange, torch.zeros, torch.full), so that the mask is made where the attention scores live.",
    weight=2,
)
def test_device_used(on_meta):
    expect(on_meta["tensor"], f"causal_mask(3, 2, device='meta') should return a tensor, but it returned {on_meta.get('what')}")
    expect(
        on_meta["device"] == "meta",
        f"causal_mask(3, 2, device='meta') returned a tensor on device '{on_meta['device']}': the device argument is ignored",
    )
    expect(on_meta["shape"] == (3, 5), f"causal_mask(3, 2, device='meta') has shape {on_meta['shape']}, but (3, 5) was expected")
