"""The mutation catalogue's machinery: plausible student mistakes, each a
small text edit of a reference solution, and the submissions built from them.

Each step's mistakes live in ``tests/suite/mutants/step_NN.py`` as
``MUTANTS`` (each must lose points in its own step) and ``EQUIVALENT``
(edits that turned out to behave exactly like the solution, with the reason).

Try one step's mutants by hand, each graded on its own:

    python -m tests.suite.mutation 04
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"


@dataclass(frozen=True)
class Mutant:
    name: str  # short, reads well in a test id: "mask ignores num_tokens"
    old: str  # text in solutions/step_NN.py, found exactly `count` times
    new: str  # what the mistake writes instead
    count: int = 1
    reason: str = ""  # for EQUIVALENT entries: why it behaves like the solution

    def apply(self, source: str, filename: str) -> str:
        found = source.count(self.old)
        if found != self.count:
            raise ValueError(f"mutant {self.name!r}: {self.old!r} occurs {found} times in {filename}, not {self.count}")
        return source.replace(self.old, self.new)


def catalogue(kind: str = "MUTANTS") -> dict[str, list[Mutant]]:
    """Every step's mutants (or EQUIVALENT entries), keyed by step id."""
    found = {}
    for path in sorted((ROOT / "tests" / "suite" / "mutants").glob("step_*.py")):
        module = importlib.import_module(f"tests.suite.mutants.{path.stem}")
        found[path.stem[len("step_") :]] = list(getattr(module, kind, []))
    return found


def make_submission(folder: Path, mutants: dict[str, Mutant]) -> Path:
    """Copy the solutions into ``folder`` and apply one mutant per step."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in SOLUTIONS.glob("step_*.py"):
        shutil.copy(source, folder / source.name)
    for step_id, mutant in mutants.items():
        target = folder / f"step_{step_id}.py"
        target.write_text(mutant.apply(target.read_text(), target.name))
    return folder


def grade(folder: Path, steps: list[str] | None = None, grader=None) -> dict:
    """The results JSON of ``folder``: with ``grader`` (the suite's
    ``warm_grader``) from a warm judge, else from a fresh one."""
    if grader is not None:
        return grader(folder, steps)
    from grading.cli import grade as grade_submission
    from grading.config import Limits

    return grade_submission(folder, include_hidden=True, steps=steps, limits=Limits.from_env()).to_json()


def main(argv: list[str]) -> int:
    step_ids = [a.zfill(2) for a in argv] or list(catalogue())
    survivors = 0
    for step_id in step_ids:
        for mutant in catalogue().get(step_id, []):
            with tempfile.TemporaryDirectory() as tmp:
                results = grade(make_submission(Path(tmp), {step_id: mutant}), steps=[step_id])
            step = next(s for s in results["steps"] if s["id"] == step_id)
            caught = step["score"] < step["max_score"]
            survivors += not caught
            failing = [t["extra_data"]["message"] for t in results["tests"] if t["status"] == "failed"]
            print(f"{'caught ' if caught else 'SURVIVED'} step {step_id} {step['score']}/{step['max_score']}  {mutant.name}")
            for message in failing[:2]:
                print(f"          {message[:150]}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
