"""The command line: each verb is a thin function over the pipeline
judge (``engine``) → score and render (``report``) → publish (``github``).

    python -m grading check [STEP ...]
    python -m grading run [--submission DIR] [--json PATH]
    python -m grading post --results PATH          (grading/github/post.py)
    python -m grading release OUT                  (grading/instructor/release.py)
    python -m grading regrade ROOT                 (grading/instructor/regrade.py)

The instructor verbs exist only where ``grading/instructor/`` does: the
student template does not ship it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from . import files, integrity
from .config import DEFAULT_SUBMISSION, STEPS, STEPS_BY_ID, Limits, WorkerKindError, worker_kind
from .engine import confinement, judge
from .engine.zygote import Zygote
from .report import notices, scoring, text
from .report.model import Results


class UsageError(Exception):
    """A bad argument: one clear line, exit code 2."""


def _submission(path: str | None) -> Path:
    folder = Path(path) if path else DEFAULT_SUBMISSION
    if not folder.is_dir():  # named as the student typed it (Path would turn C:/x into C:\x)
        raise UsageError(f"submission folder '{path if path else folder}' does not exist or is not a folder")
    return folder.resolve()


def _step_ids(values: list[str]) -> list[str]:
    ids = []
    for value in values:
        step_id = value.zfill(2) if value.isdigit() else value
        if step_id not in STEPS_BY_ID:
            raise UsageError(f"there is no step '{value}': steps are 1 to {len(STEPS)}")
        ids.append(step_id)
    return ids


def _limits(args) -> Limits:
    return Limits.from_env(call_timeout=args.call_timeout, test_timeout=args.test_timeout, step_timeout=args.step_timeout)


def grade(
    submission: Path, *, include_hidden: bool, steps: list[str] | None, limits: Limits, zygote: Zygote | None = None
) -> Results:
    """Judge, score and flag one submission: the pipeline every verb shares.
    With a warm ``zygote`` (grading many submissions), the judge is forked
    from it instead of started afresh; the grades are the same."""
    hidden = include_hidden and any("hidden" in path.parts for path in judge.test_files(True, steps))
    outcome = judge.judge(submission, include_hidden=hidden, steps=steps, limits=limits, zygote=zygote)
    recorded = files.load_manifest()
    results = scoring.build_results(
        outcome.collected,
        outcome.tests,
        stopped_steps=outcome.stopped_steps,
        duration=outcome.duration,
        graded_with_hidden=hidden,
        untouched_steps=files.unchanged_starters(submission, recorded),
    )
    results.workers = outcome.workers
    results.confinement = confinement.summary(outcome.confinement) if outcome.confinement else {}  # {}: no worker ran
    results.integrity = integrity.scan(submission, recorded) + outcome.integrity  # static, then what the workers' audit saw
    if results.integrity:
        results.output += "\n\n" + text.integrity_lines(results.integrity)
    unconfined = confinement.unconfined(results.confinement)
    if unconfined:
        results.output += "\n\n" + unconfined
    return results


def cmd_run(args) -> int:
    submission = _submission(args.submission)
    results = grade(submission, include_hidden=not args.visible_only, steps=None, limits=_limits(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results.to_json(), indent=2) + "\n")
    with notices.inert_output():
        print(notices.neutralize(text.run_summary(results, text.marks_for(sys.stdout))), flush=True)
        unconfined = confinement.unconfined(results.confinement)
        if unconfined:  # once per run: which grades ran unconfined
            print("\n" + unconfined, flush=True)
    for line in notices.classroom_notices(results):
        print(line, flush=True)
    return 0


def cmd_check(args) -> int:
    submission = _submission(args.submission)
    step_ids = _step_ids(args.steps) if args.steps else [s.id for s in STEPS]
    results = grade(submission, include_hidden=False, steps=step_ids, limits=_limits(args))
    print(notices.neutralize(text.check_text(results, step_ids, text.marks_for(sys.stdout))))
    return 0 if results.checks and all(c.passed for c in results.checks) else 1


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The command line; given the ``verb`` being run, only what it needs
    (``check``, ``run`` and ``regrade`` never import the GitHub client's libraries)."""
    parser = argparse.ArgumentParser(prog="python -m grading", description="The GPT-2 classroom autograder.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    def limits_options(p):
        p.add_argument("--call-timeout", type=float, help="seconds one call into the submission may take")
        p.add_argument("--test-timeout", type=float, help="seconds one check may take")
        p.add_argument("--step-timeout", type=float, help="seconds all of one step's calls may take")

    check = verbs.add_parser("check", help="run the visible checks for some steps (all when none)")
    check.add_argument("steps", nargs="*", metavar="STEP", help="step numbers, e.g. 1 or 01")
    check.add_argument("--submission", help="folder holding your step files (default: assignments/)")
    limits_options(check)
    check.set_defaults(func=cmd_check)

    run = verbs.add_parser("run", help="grade a submission, write the results JSON, print the Classroom notices")
    run.add_argument("--submission", help="folder holding step_01.py … step_12.py (default: assignments/)")
    run.add_argument("--json", default="results.json", help="where to write the results JSON (default: results.json)")
    run.add_argument("--visible-only", action="store_true", help="grade with the visible checks only")
    limits_options(run)
    run.set_defaults(func=cmd_run)

    if verb in ("check", "run"):
        modules = []
    elif verb in _VERB_MODULES:
        modules = [_VERB_MODULES[verb]]
    else:  # --help, or a mistyped verb: every verb is listed
        modules = list(_VERB_MODULES.values())
    for module in modules:
        try:
            verb_module = importlib.import_module(module)
        except ModuleNotFoundError as missing:
            if missing.name != module and not module.startswith(f"{missing.name}."):
                raise
            continue  # the student template ships no grading/instructor/
        verb_module.register(verbs)
    return parser


# Verbs that live in modules of their own; each exposes ``register(verbs)``,
# adding its argparse sub-parser with ``set_defaults(func=...)``. Only the
# module of the verb being run is imported: ``regrade`` starts its warm
# grader a third of a second sooner without the GitHub client's libraries.
_VERB_MODULES = {"post": "grading.github.post", "release": "grading.instructor.release", "regrade": "grading.instructor.regrade"}


def main(argv: list[str] | None = None) -> int:
    text.safe_console()  # a console that cannot print ✅ gets look-alikes, never a UnicodeEncodeError
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        if args.func in (cmd_run, cmd_check):
            worker_kind()  # GRADING_WORKERS, if set, must name a kind this platform can run
        return args.func(args)
    except (UsageError, WorkerKindError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
