"""Verify a release before it is moved into place: three grading runs in
parallel, each through the released tree's own command line.

Called by ``grading.instructor.release``. The template's ``check`` runs and
reports every step as not done (so the template works without
``grading/instructor/`` and without the references); the bundle grades the
template's starters 0 and ``solutions/`` full marks.
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..config import STEPS
from .cli_process import Finished, run_cli

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


def _grade(bundle: Path, submission: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        results_path = Path(tmp) / "results.json"
        proc = run_cli(["run", "--submission", str(submission), "--json", str(results_path)], cwd=bundle, timeout=VERIFY_TIMEOUT)
        if proc.returncode != 0 or not results_path.exists():
            raise ReleaseError(f"the bundle could not grade {submission} (exit code {proc.returncode}):\n    {_tail(proc)}")
        return json.loads(results_path.read_text())


def verify_starters(bundle: Path, template: Path) -> str:
    results = _grade(bundle, template / "assignments")
    if results["score"] != 0:
        passing = [t["name"] for t in results["tests"] if t["status"] == "passed" and t["score"]]
        raise ReleaseError(
            f"the bundle gives the template's starters {results['score']:g} points, not 0; they pass: " + "; ".join(passing)
        )
    return f"the bundle grades the template's starters 0/{results['max_score']:g}"


def verify_solutions(bundle: Path, solutions: Path) -> str:
    """solutions/ earns every point of every step that has checks (100 once all 12 do)."""
    results = _grade(bundle, solutions)
    if not results.get("hidden_tests_used"):
        raise ReleaseError("the bundle graded solutions/ without its hidden checks")
    graded = [s for s in results["steps"] if s["checks"]]
    short = [f"step {s['id']} {s['score']:g}/{s['max_score']:g}" for s in graded if s["score"] < s["max_score"] - 0.01]
    available = sum(s["max_score"] for s in graded)
    if short:
        raise ReleaseError(f"the bundle gives solutions/ {results['score']:g}/{available:g}: short on {', '.join(short)}")
    if len(graded) == len(STEPS):
        if abs(results["score"] - 100) > 0.01:
            raise ReleaseError(f"the bundle gives solutions/ {results['score']:g}, not 100")
        return "the bundle grades solutions/ 100/100"
    ids = ", ".join(s["id"] for s in graded)
    return f"the bundle grades solutions/ {results['score']:g}/{available:g}, full marks on the {len(graded)} steps with checks ({ids}); 100 once all {len(STEPS)} have them"


def verify(source: Path, into: Path):
    template, bundle = into / "template", into / "grader"
    jobs = {
        "template check": lambda: verify_check(template),
        "starters": lambda: verify_starters(bundle, template),
        "solutions": lambda: verify_solutions(bundle, source / "solutions"),
    }
    say(f"verifying: {len(jobs)} grading runs (this takes a few seconds)")
    started = time.monotonic()
    failures = []
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
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
