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
computes it once for a whole class, and a lone judge has a helper process
compute it on another core while its first steps are checked.
"""

from __future__ import annotations

import functools
import math

import pytest


class CheckFailure(AssertionError):
    """A check failed; the message is feedback for the student."""


def check(title: str, *, hint: str, weight: float = 1.0):
    """Declare a test as a graded check (see the module docstring)."""
    if weight < 0:
        raise ValueError("a check's weight cannot be negative")
    return pytest.mark.check(title=title, hint=hint, weight=float(weight))


_REFERENCES: list = []  # every reference fixture's computation, as its module was imported
_ASIDE: dict = {}  # the helper computing them on another core (compute_references_aside): its pipe and pid


def reference_fixture(compute):
    """A module-scoped fixture of reference data that depends on the grader's
    own code and seeds alone, never on ``student``. It is computed once per
    process and then shared, so the warm grader (``grading.engine.zygote``)
    computes it once, before it forks a judge for each submission, instead
    of once a submission. What the computation left in torch's global random
    state is put back on every later use, so the checks after it see the
    numbers a first computation would have left them."""
    import torch

    memo = {}

    @functools.wraps(compute)
    def shared():
        if "value" not in memo and _ASIDE:
            _take_from_aside(shared)
        if "value" not in memo:
            before = torch.random.get_rng_state()
            value = compute()
            after = torch.random.get_rng_state()
            memo.update(value=value, random_state=None if torch.equal(before, after) else after)
        elif memo["random_state"] is not None:
            torch.random.set_rng_state(memo["random_state"])
        return memo["value"]

    shared.memo = memo
    _REFERENCES.append(shared)
    return pytest.fixture(scope="module")(shared)


def compute_references():
    """Compute every reference fixture imported so far; one that raises is
    left to the checks that use it, which report the error as they would."""
    for shared in _REFERENCES:
        try:
            shared()
        except Exception:
            pass


def compute_references_aside():
    """In a judge that has just collected its checks (``run``, ``check``):
    fork a helper that computes every reference fixture not computed yet,
    on another core while the first steps are checked, and streams each
    value back as soon as it is done; a fixture's first use takes it from
    there (or computes it itself if the helper could not). The helper
    computes them in order from this process's state before any check ran,
    as the warm process does for its judges (``grading.engine.zygote``)."""
    import os
    import time

    from . import confinement, protocol, reaping

    pending = [index for index, shared in enumerate(_REFERENCES) if "value" not in shared.memo]
    if not pending:
        return
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: the grader's own code, never a submission's
        try:
            confinement.keep_only_fds({write_fd})
            for index in pending:
                try:
                    _REFERENCES[index]()
                    memo = _REFERENCES[index].memo
                    message = (index, True, memo["value"], memo["random_state"])
                except Exception:
                    message = (index, False, None, None)  # the judge computes it, and so reports its error
                protocol.send_reply(write_fd, protocol.encode_request(message))
        finally:
            os._exit(0)
    os.close(write_fd)
    reaping.LIVE.add(pid)
    _ASIDE.update(fd=read_fd, pid=pid, left=len(pending), deadline=time.monotonic() + 120)


def _take_from_aside(wanted) -> None:
    """Read the helper's values until ``wanted``'s has come; once all have
    (or the helper failed), reap it, and what is left is computed here."""
    import os
    import pickle
    import signal

    from . import protocol, reaping

    while "value" not in wanted.memo and _ASIDE["left"]:
        try:
            index, ok, value, random_state = pickle.loads(protocol.read_message(_ASIDE["fd"], _ASIDE["deadline"]))
        except Exception:  # it ended or stalled
            os.kill(_ASIDE["pid"], signal.SIGKILL)
            break
        _ASIDE["left"] -= 1
        if ok:
            _REFERENCES[index].memo.update(value=value, random_state=random_state)
    if _ASIDE["left"] and "value" in wanted.memo:
        return  # more to come, for later fixtures
    os.close(_ASIDE["fd"])
    os.waitpid(_ASIDE["pid"], 0)
    reaping.LIVE.discard(_ASIDE["pid"])
    _ASIDE.clear()


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
