"""The one typed results model: a check, a step, the whole result.

Built by ``grading.report.scoring``; read by every renderer (the ``check``
text, the run summary, the job summary, the Feedback comment, the
annotations, the gradebook). It loads from and writes to the results JSON of
the design: a valid Gradescope ``results.json`` (``score``, ``max_score``,
``execution_time``, ``tests``) plus ``steps``. What Gradescope has no field
for travels in each test's ``extra_data``, which only this module reads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

# Why a check failed, as a fact (never read from a message):
#   check            a comparison failed (the message says how)
#   exception        the submission's code raised
#   not_implemented  the code raised NotImplementedError (a starter's TODO)
#   missing_file     the step's file is not in the submission
#   crash, timeout   the worker died, or did not answer in time
#   too_large        the worker's reply was over the size limit
#   stopped          the check never ran (the judge was stopped in its step)
#   skipped          the check skipped itself (the message says why)
#   internal         the grader itself failed
NOT_STARTED_KINDS = frozenset({"not_implemented", "missing_file"})
_EXTRA = ("nodeid", "step", "title", "hint", "weight", "foundation", "message", "kind", "location", "output")


@dataclass
class CheckResult:
    nodeid: str
    step: str  # "01" … "12"
    title: str  # with its case, "… [B2-T1-heads4]"
    hint: str = ""
    weight: float = 1.0
    visibility: str = "visible"  # or "hidden"
    # Which earlier steps it was graded on: "grader" (the grader's reference
    # steps; also tried on the student's own when those are all correct) or
    # "own" (it passed on the student's own earlier steps only); "" for a
    # check with no earlier steps to choose (step 01, the student template).
    foundation: str = ""
    passed: bool = False
    message: str = ""  # why it failed, for the student
    kind: str = ""  # why it failed, as a fact (see above)
    location: dict | None = None  # {"file", "line", "function"} in the submission
    output: str = ""  # what the submission printed
    score: float = 0.0
    max_score: float = 0.0

    @property
    def name(self) -> str:
        return f"Step {self.step} · {self.title}"

    def to_json(self) -> dict:
        lines = [] if self.passed else [self.message] + ([f"Hint: {self.hint}"] if self.hint else [])
        return {
            "name": self.name,
            "score": self.score,
            "max_score": self.max_score,
            "status": "passed" if self.passed else "failed",
            "visibility": self.visibility,
            "output": "\n".join(lines),
            "extra_data": {name: getattr(self, name) for name in _EXTRA},
        }

    @classmethod
    def from_json(cls, test: dict) -> "CheckResult":
        extra = test.get("extra_data") or {}
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in extra.items() if k in known}
        values.setdefault("title", test.get("name", ""))
        values.setdefault("nodeid", values["title"])
        values.setdefault("step", "")
        return cls(
            **values,
            visibility=test.get("visibility", "visible"),
            passed=test.get("status") == "passed",
            score=float(test.get("score", 0.0)),
            max_score=float(test.get("max_score", 0.0)),
        )


@dataclass
class StepResult:
    id: str
    title: str
    score: float
    max_score: float
    status: str  # passed | partial | failed | not_started | unavailable
    checks_passed: int
    checks: int


@dataclass
class Results:
    score: float
    max_score: float
    execution_time: float
    output: str
    checks: list[CheckResult]
    steps: list[StepResult]
    hidden_tests_used: bool = True
    integrity: list[dict] = field(default_factory=list)  # {kind, file, line, detail}; never deducted
    workers: str = ""  # how the sandbox started each step's worker: "fork" or "spawn"
    # what confined every worker: {reads, writes, signals, kernel, reason?, measures} (grading.engine.confinement.summary)
    confinement: dict = field(default_factory=dict)

    @property
    def classroom_points(self) -> int:
        """The score GitHub Classroom gets: whole points, half up (its grade
        export turns a fractional total into 0)."""
        return math.floor(self.score + 0.5)

    @property
    def classroom_max(self) -> int:
        return math.floor(self.max_score + 0.5)

    def checks_of(self, step_id: str) -> list[CheckResult]:
        return [c for c in self.checks if c.step == step_id]

    def failing(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def status_of(self, step_id: str) -> str:
        return next((s.status for s in self.steps if s.id == step_id), "")

    def to_json(self) -> dict:
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": self.execution_time,
            "output": self.output,
            "visibility": "visible",
            "tests": [c.to_json() for c in self.checks],
            "steps": [asdict(s) for s in self.steps],
            "hidden_tests_used": self.hidden_tests_used,
            "classroom": {"points": self.classroom_points, "max_points": self.classroom_max},
            "integrity": list(self.integrity),
            "workers": self.workers,
            "confinement": dict(self.confinement),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Results":
        step_fields = {f.name for f in fields(StepResult)}
        return cls(
            score=float(data["score"]),
            max_score=float(data["max_score"]),
            execution_time=float(data.get("execution_time", 0.0)),
            output=str(data.get("output", "")),
            checks=[CheckResult.from_json(t) for t in data.get("tests", []) if isinstance(t, dict)],
            steps=[StepResult(**{k: v for k, v in s.items() if k in step_fields}) for s in data.get("steps", [])],
            hidden_tests_used=bool(data.get("hidden_tests_used", True)),
            integrity=[f for f in data.get("integrity") or [] if isinstance(f, dict)],
            workers=str(data.get("workers") or ""),
            confinement=data.get("confinement") if isinstance(data.get("confinement"), dict) else {},
        )
