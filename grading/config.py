"""The one place that holds the course's shape and the grader's limits.

Every other module reads these values and never repeats them: the steps, their
titles and public API names, how the 100 points split across steps, and the
default time, memory and output limits of the sandbox. Tests declare only a relative
``weight`` inside their step (see ``grading.checks.check``); a step's points
are shared among its checks in proportion to those weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Step:
    id: str  # "01" … "12"
    title: str
    points: float
    # The names of the step's public API (DESIGN's table). In a later step's
    # worker these names come from the grader's reference; the file's other
    # names stay the student's own (``grading.engine.prerequisites``).
    api: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return f"step_{self.id}"

    @property
    def filename(self) -> str:
        return f"step_{self.id}.py"


STEPS: tuple[Step, ...] = (
    Step("01", "Create Model Configuration", 4, ("GPT2Config",)),
    Step("02", "Implement Causal Masking", 6, ("causal_mask",)),
    Step("03", "Implement Layer Normalization", 7, ("LayerNorm",)),
    Step("04", "Build the Feed-Forward Network", 7, ("GPT2MLP",)),
    Step("05", "Add Token Embeddings", 5, ("GPT2Embeddings",)),
    Step("06", "Add Position Embeddings", 5, ("GPT2PositionEmbeddings",)),
    Step("07", "Build Multi-Head Attention", 14, ("GPT2MultiHeadAttention",)),
    Step("08", "Add Residual Connections", 6, ("apply_residual_connection", "ResidualBlock")),
    Step("09", "Assemble the Transformer Block", 11, ("GPT2Block",)),
    Step("10", "Stack the Blocks into GPT2Model", 11, ("GPT2Model",)),
    Step("11", "Add the Language Model Head", 10, ("GPT2LMHeadModel",)),
    Step("12", "Generate Text", 14, ("generate_next_token", "generate_tokens")),
)
STEPS_BY_ID = {step.id: step for step in STEPS}
MAX_SCORE = sum(step.points for step in STEPS)
assert MAX_SCORE == 100, MAX_SCORE

# Where the grader's own files live: the folder that holds the `grading`
# package (the source repository, the student template or the grader bundle).
GRADER_ROOT = Path(__file__).resolve().parent.parent
JUDGE_INI = Path(__file__).resolve().parent / "judge.ini"
DEFAULT_SUBMISSION = GRADER_ROOT / "assignments"


@dataclass(frozen=True)
class Limits:
    """Sandbox limits; each can be overridden by an environment variable or a
    CLI option (``grading run --call-timeout ...``)."""

    call_timeout: float = 20.0  # one call into a worker, seconds
    test_timeout: float = 60.0  # one check, seconds (pytest-timeout)
    step_timeout: float = 120.0  # all calls of one step together, seconds
    memory_mb: int = 3072  # address space a worker may add, MiB
    output_bytes: int = 1_000_000  # worker stdout+stderr kept on disk
    judge_timeout: float = 900.0  # the whole judge process, seconds
    start_timeout: float = 180.0  # a spawned worker importing torch before it can answer, seconds (not charged to the step)

    @classmethod
    def from_env(cls, **overrides) -> "Limits":
        values = {}
        for name, default in cls().__dict__.items():
            env = os.environ.get(f"GRADING_{name.upper()}")
            if overrides.get(name) is not None:
                values[name] = type(default)(overrides[name])
            elif env:
                values[name] = type(default)(float(env))
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        return {f"GRADING_{k.upper()}": str(v) for k, v in self.__dict__.items()}


WORKER_KINDS = ("fork", "spawn")


class WorkerKindError(ValueError):
    """GRADING_WORKERS names a kind this platform cannot run."""


def worker_kind(environ=None) -> str:
    """How the judge starts a step's worker: ``fork`` (a copy of the judge,
    milliseconds) on Linux; ``spawn`` (a fresh ``python`` that imports torch
    itself, seconds) where fork is unavailable (Windows) or unsafe once torch
    is loaded (macOS). ``GRADING_WORKERS=fork|spawn`` overrides the choice."""
    import sys

    wanted = (environ if environ is not None else os.environ).get("GRADING_WORKERS", "").strip().lower()
    if not wanted:
        return "fork" if sys.platform.startswith("linux") else "spawn"
    if wanted not in WORKER_KINDS:
        raise WorkerKindError(f"GRADING_WORKERS is {wanted!r}; it can be fork or spawn")
    if wanted == "fork" and not hasattr(os, "fork"):
        raise WorkerKindError("GRADING_WORKERS=fork: this platform cannot fork; use spawn (or leave it unset)")
    return wanted


def step_of(path: str | os.PathLike) -> Step | None:
    """The step a test file or submission file belongs to, from its name."""
    name = Path(path).name
    for prefix in ("test_step_", "step_"):
        if name.startswith(prefix) and name.endswith(".py"):
            return STEPS_BY_ID.get(name[len(prefix) : len(prefix) + 2])
    return None
