"""How long does a push take to grade? The classroom workflow's job, under a
real Actions runner (nektos/act) on this machine, twice in one run:

    python benchmarks/workflow_push.py [--keep DIR]

- cold: a new runner and an empty cache (act's tool cache volume removed, the
  cache server's storage empty): the job installs torch, transformers and the
  rest into the virtual environment, and saves it to the cache;
- warm: the same submission pushed again: the job restores the environment
  from the cache and skips the install.

Each time is the whole job, act's start to its end (container set-up and
removal included). Target (2 cores): warm push under 30 s. The set-up is the
one of tests/suite/test_workflow_e2e.py (tests/suite/actions_runner.py):
a release of this repository, the bundle on a local git server, a stand-in
GitHub API with the Feedback pull request.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.suite.actions_runner import Classroom, release, remove_toolcache, runner_problem  # noqa: E402

WARM_TARGET = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (act logs in DIR/classroom/logs)")
    args = parser.parse_args()
    problem = runner_problem()
    if problem:
        print(f"cannot run the workflow here: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="workflow-push-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        return measure(work)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(work: Path) -> int:
    print(f"load average at the start: {_load()} (2 cores; other work on the machine slows every step)", flush=True)
    print(f"release: the template and the grader bundle in {work / 'out'}", flush=True)
    out = release(work / "out")
    remove_toolcache()
    times = {}
    with Classroom(work / "classroom", out) as room:
        for name in ("cold", "warm"):
            if name == "warm":
                room.commit("Second push")
            run = room.push()
            if not run.succeeded:
                print(f"{name} push: the job failed (act exited with {run.returncode}):\n{run.tail()}", file=sys.stderr)
                return 1
            times[name] = run.seconds
            steps = ", ".join(f"{step.removeprefix('Main ')} {seconds:.1f}" for step, seconds in run.steps().items() if seconds >= 0.95)
            print(f"  {name}: {steps}", flush=True)
    print(f"load average at the end: {_load()}")
    print(f"cold push: {times['cold']:.1f} s")
    print(f"warm push: {times['warm']:.1f} s")
    print(f"warm/cold: {times['warm'] / times['cold']:.2f}")
    if times["warm"] >= WARM_TARGET:
        print(f"the warm push missed its target of {WARM_TARGET:.0f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
