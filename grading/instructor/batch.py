"""Grade many submissions with one warm judge process.

    python -m grading.instructor.batch SUBMISSION RESULTS.json [SUBMISSION RESULTS.json ...]

``WarmGrader`` is what ``regrade`` grades a class with, what the release's
verification grades the starters and the solutions with (through the command
above, run in the grader bundle), and what the project's own suite grades
its mutants and hostile submissions with. Each submission gets a fresh judge
forked from a process that imported torch and transformers once
(``grading.engine.zygote``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..cli import grade
from ..config import GRADER_ROOT, Limits
from ..engine.judge import judge_environment
from ..engine.zygote import Zygote


class WarmGrader:
    """Grades exported submissions with judges forked from one warm process
    (``grading.engine.zygote``): torch and transformers are imported once for
    the whole class, and each submission still gets a fresh judge and its own
    workers, so its grades are those of a lone ``python -m grading run``."""

    def __init__(self, judge_timeout: float):
        self.limits = Limits.from_env(judge_timeout=judge_timeout)
        self.zygote = Zygote(GRADER_ROOT, judge_environment(self.limits))
        self.zygote.start()  # warming up while the caller exports its first submissions

    def __enter__(self) -> "WarmGrader":
        return self

    def __exit__(self, *exc):
        self.zygote.close()

    def __call__(self, submission: Path, steps: list[str] | None = None, limits: Limits | None = None) -> dict:
        """The results JSON of ``submission`` (its ``steps``, default all)."""
        limits = limits or self.limits
        return grade(Path(submission).resolve(), include_hidden=True, steps=steps, limits=limits, zygote=self.zygote).to_json()


def main(argv: list[str]) -> int:
    if not argv or len(argv) % 2:
        print("usage: python -m grading.instructor.batch SUBMISSION RESULTS.json [SUBMISSION RESULTS.json ...]", file=sys.stderr)
        return 2
    with WarmGrader(Limits().judge_timeout) as grade_submission:
        for submission, results in zip(argv[::2], argv[1::2]):
            data = grade_submission(Path(submission).resolve())
            Path(results).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
