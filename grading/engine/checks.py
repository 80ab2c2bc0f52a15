"""What a check is, for the people who write them (visible and hidden tests).

A check is a pytest test marked with ``@check(title, hint=..., weight=...)``.
The title is what a student sees next to ✅ when the check passes; when it
fails they see the failure's message instead (next to ❌), then the hint.
Messages come from ``expect``/``fail``/``assert_close`` below, so they are
plain words written for a student, and the test's source is never shown.

``assert_close`` is the one "student vs reference" comparison every step uses:
it compares type, shape and dtype before values, and reports the largest
difference and where it is.

``reference_fixture`` declares a module's reference data (transformers'
models and their outputs): computed once per process, so a warm grader
computes it once for a whole class, from the same random state in any
process, so every process computes the same values.
"""

from __future__ import annotations

import functools
import importlib
import math

import pytest


class CheckFailure(AssertionError):
    """A check failed; the message is feedback for the student."""


def check(title: str, *, hint: str, weight: float = 1.0):
    """Declare a test as a graded check (see the module docstring)."""
    if weight < 0:
        raise ValueError("a check's weight cannot be negative")
    return pytest.mark.check(title=title, hint=hint, weight=float(weight))


def manual_seed(seed: int) -> None:
    """``torch.manual_seed(seed)`` for the CPU, where every check runs, with
    the same numbers. torch's own also queues the seed for accelerators that
    are not initialised, formatting the caller's stack each time: milliseconds
    a call under pytest's deep stacks, paid by every judge and worker."""
    import torch

    torch.random.default_generator.manual_seed(seed)


# What the hidden checks compute their reference data with. The test modules
# import it only inside their fixtures and checks, because a spawned worker
# imports them too, for their probes, and needs none of it; a judge imports
# it as soon as it has collected hidden checks (``import_reference_libraries``).
REFERENCE_LIBRARIES = ("transformers.models.gpt2.modeling_gpt2", "transformers.generation.logits_process")
_REFERENCES: list = []  # every reference fixture's computation, as its module was imported
REFERENCE_SEED = 0  # torch's global random state when a reference fixture's computation starts


def reference_fixture(compute):
    """A module-scoped fixture of reference data that depends on the grader's
    own code and seeds alone, never on ``student``. It is computed once per
    process and then shared, so the warm grader (``grading.engine.zygote``)
    computes it once, before it forks a judge for each submission, instead
    of once a submission. It starts from the same random state wherever it
    is computed, so a lone judge and its partner (``grading.engine.partner``)
    compute what the warm process computes. What the computation left in
    torch's global random state is put back on every later use, so the
    checks after it see the numbers a first computation would have left them."""
    import torch

    memo = {}

    @functools.wraps(compute)
    def shared():
        if "value" not in memo:
            before = torch.random.get_rng_state()
            manual_seed(REFERENCE_SEED)  # the same numbers in any process, whatever ran there before
            start = torch.random.get_rng_state()
            value = compute()
            after = torch.random.get_rng_state()
            untouched = torch.equal(start, after)
            if untouched:
                torch.random.set_rng_state(before)
            memo.update(value=value, random_state=None if untouched else after)
        elif memo["random_state"] is not None:
            torch.random.set_rng_state(memo["random_state"])
        return memo["value"]

    shared.memo = memo
    _REFERENCES.append(shared)
    return pytest.fixture(scope="module")(shared)


def import_reference_libraries():
    """Import ``REFERENCE_LIBRARIES`` in a judge (or the warm process it is
    forked from) before it freezes what it imported and forks: its partner
    and its workers then share the import instead of each making its own."""
    for name in REFERENCE_LIBRARIES:
        importlib.import_module(name)


def compute_references():
    """Compute every reference fixture imported so far; one that raises is
    left to the checks that use it, which report the error as they would."""
    for shared in _REFERENCES:
        try:
            shared()
        except Exception:
            pass


def references_pending() -> bool:
    """Whether this process has reference data still to compute: a lone
    judge has; one forked from a warm process has not."""
    return any("value" not in shared.memo for shared in _REFERENCES)


def expect(condition, message: str):
    if not condition:
        raise CheckFailure(message)


def fail(message: str):
    raise CheckFailure(message)


def describe(value) -> str:
    """A short, readable account of a value a student's code returned."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return f"a tensor of shape {tuple(value.shape)} and dtype {_dtype(value.dtype)}"
    except ImportError:  # pragma: no cover - torch is always there when grading
        pass
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dtype(dtype) -> str:
    return str(dtype).replace("torch.", "")


def assert_close(actual, expected, *, what: str, atol: float = 1e-5, rtol: float = 1e-4, hint_shape: str = ""):
    """Fail with a student-readable message unless ``actual`` matches
    ``expected`` (a tensor): same shape, same dtype, values within
    ``atol + rtol * |expected|`` everywhere."""
    import torch

    if not isinstance(actual, torch.Tensor):
        fail(f"{what} should be a tensor of shape {tuple(expected.shape)}, but it was {describe(actual)}")
    if tuple(actual.shape) != tuple(expected.shape):
        fail(
            f"{what} has shape {tuple(actual.shape)} but {tuple(expected.shape)} was expected"
            + (f": {hint_shape}" if hint_shape else "")
        )
    if actual.dtype != expected.dtype:
        fail(f"{what} has dtype {_dtype(actual.dtype)} but {_dtype(expected.dtype)} was expected")
    if actual.numel() == 0:
        return
    if expected.is_floating_point():
        got, want = actual.detach().double(), expected.detach().double()
        bad_nan = torch.isnan(got) & ~torch.isnan(want)
        if bad_nan.any():
            index = _index(bad_nan.nonzero()[0])
            fail(f"{what} contains NaN at index {index}, where {want[tuple(bad_nan.nonzero()[0])].item():.6g} was expected")
        both_inf = torch.isinf(want) & (got == want)
        diff = torch.where(both_inf | (torch.isnan(got) & torch.isnan(want)), torch.zeros_like(got), (got - want).abs())
        diff = torch.nan_to_num(diff, nan=math.inf, posinf=math.inf)
        allowed = atol + rtol * torch.nan_to_num(want.abs(), posinf=0.0)
        over = diff > allowed
        if over.any():
            flat = int(torch.argmax(torch.where(over, diff, torch.zeros_like(diff))).item())
            position = _unravel(flat, tuple(actual.shape))
            fail(
                f"{what} differs from the reference by up to {diff[position].item():.3g} "
                f"at index {_index(position)} (got {got[position].item():.6g}, expected {want[position].item():.6g}); "
                f"{int(over.sum())} of {over.numel()} values are off (tolerance {atol:g} + {rtol:g}·|expected|)"
            )
    else:
        unequal = actual != expected
        if unequal.any():
            position = tuple(int(i) for i in unequal.nonzero()[0])
            fail(
                f"{what} differs from the reference at index {_index(position)} "
                f"(got {actual[position].item()}, expected {expected[position].item()}); "
                f"{int(unequal.sum())} of {unequal.numel()} values differ"
            )


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    position = []
    for size in reversed(shape):
        position.append(flat % size)
        flat //= size
    return tuple(reversed(position))


def _index(position) -> str:
    return "(" + ", ".join(str(int(i)) for i in position) + ")"
