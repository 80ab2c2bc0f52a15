"""Verify a release before it is moved into place: two processes in
parallel, each the released tree's own grader.

Called by ``grading.instructor.release``. The template's ``check`` runs and
reports every step as not done (so the template works without
``grading/instructor/`` and without the references); the bundle grades the
template's starters 0 and ``solutions/`` full marks, both graded by one
warm process (``grading.instructor.batch``).
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..config import STEPS
from .cli_process import Finished, run_cli, run_module

VERIFY_TIMEOUT = 1800.0  # seconds for one grading run


class ReleaseError(Exception):
    """Why a release was refused; printed as one or more clear lines."""


def say(message: str):
    print(f"release: {message}", flush=True)


def _tail(finished: Finished, lines: int = 15) -> str:
    return "\n    ".join(finished.output.strip().splitlines()[-lines:])


def verify_check(template: Path) -> str:
    """The template's ``python -m grading check`` runs and reports every step as not done."""
    proc = run_cli(["check"], cwd=template, timeout=VERIFY_TIMEOUT)
    out = proc.output
    problems = []
    if proc.returncode is None:
        problems.append(f"it did not finish within {VERIFY_TIMEOUT:g} s")
    elif proc.returncode != 1:
        problems.append(f"it exited with code {proc.returncode} (1 expected: checks failed)")
    if "Traceback" in out or "internal error" in out:
        problems.append("it crashed or hit an internal error")
    if "✅" in out:
        problems.append("some checks pass on the starters")
    checked = [s.id for s in STEPS if (template / "tests" / "visible" / f"test_step_{s.id}.py").exists()]
    missing = [i for i in checked if f"Running tests for Step {i}:" not in out]
    if missing:
        problems.append(f"it did not report step(s) {', '.join(missing)}")
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    if not summary.startswith("0/"):
        problems.append(f"its summary is {summary!r}, not 0 checks passed")
    if problems:
        raise ReleaseError("in the template, `python -m grading check`: " + "; ".join(problems) + f"\n    {_tail(proc)}")
    return f"in the template, `python -m grading check` reports all {len(checked)} steps with checks as not done"


def grade_in_bundle(bundle: Path, submissions: dict[str, Path]) -> dict[str, dict]:
    """The bundle's own grader grades every submission, with one warm process
    (``python -m grading.instructor.batch``, run in the bundle)."""
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {name: Path(tmp) / f"{name}.json" for name in submissions}
        pairs = [str(arg) for name in submissions for arg in (submissions[name], outputs[name])]
        proc = run_module(["grading.instructor.batch", *pairs], cwd=bundle, timeout=VERIFY_TIMEOUT)
        if proc.returncode != 0 or not all(path.exists() for path in outputs.values()):
            raise ReleaseError(f"the bundle could not grade {', '.join(map(str, submissions.values()))} (exit code {proc.returncode}):\n    {_tail(proc)}")
        return {name: json.loads(path.read_text()) for name, path in outputs.items()}


def verify_starters(results: dict) -> str:
    if results["score"] != 0:
        passing = [t["name"] for t in results["tests"] if t["status"] == "passed" and t["score"]]
        raise ReleaseError(
            f"the bundle gives the template's starters {results['score']:g} points, not 0; they pass: " + "; ".join(passing)
        )
    return f"the bundle grades the template's starters 0/{results['max_score']:g}"


def verify_solutions(results: dict) -> str:
    """solutions/ earns every point of every step: 100/100."""
    if not results.get("hidden_tests_used"):
        raise ReleaseError("the bundle graded solutions/ without its hidden checks")
    short = [f"step {s['id']} {s['score']:g}/{s['max_score']:g}" for s in results["steps"] if s["score"] < s["max_score"] - 0.01]
    if short or abs(results["score"] - 100) > 0.01:
        raise ReleaseError(f"the bundle gives solutions/ {results['score']:g}/100: short on {', '.join(short) or 'the total'}")
    return "the bundle grades solutions/ 100/100"


def verify(source: Path, into: Path):
    template, bundle = into / "template", into / "grader"
    say("verifying: the template's check, and the bundle grading the starters and solutions/ (this takes a few seconds)")
    started = time.monotonic()
    failures = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        graded = pool.submit(grade_in_bundle, bundle, {"starters": template / "assignments", "solutions": source / "solutions"})
        jobs = {
            "template check": lambda: verify_check(template),
            "starters": lambda: verify_starters(graded.result()["starters"]),
            "solutions": lambda: verify_solutions(graded.result()["solutions"]),
        }
        futures = {pool.submit(job): name for name, job in jobs.items()}
        for done, future in enumerate(as_completed(futures), 1):
            try:
                line = future.result()
                say(f"  [{done}/{len(jobs)}] ok: {line} ({time.monotonic() - started:.0f} s)")
            except ReleaseError as error:
                failures.append(str(error))
                say(f"  [{done}/{len(jobs)}] FAILED: {futures[future]}")
    if failures:
        raise ReleaseError("the release did not verify:\n  " + "\n  ".join(failures))
