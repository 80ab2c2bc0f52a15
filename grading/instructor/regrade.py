"""Grade many student clones into a gradebook: the instructor's authoritative grade.

    python -m grading regrade ROOT [--jobs N] [--deadline ISO] [--shard I/N] [--post]
    python -m grading regrade --repos FILE ...      (or repository paths as arguments)
    python -m grading regrade --merge SHARD.csv ... --out gradebook.csv

ROOT is laid out as ``gh classroom clone student-repos`` leaves it,
``ROOT/<assignment>-submissions/<assignment>-<username>/``, or ROOT is the
``-submissions`` folder itself. Each repository's commit (its HEAD, or with
``--deadline`` its last commit before the deadline) is exported with
``git archive`` into a temporary folder, so the clone is never touched, and
graded there by a judge forked from one warm process (``WarmGrader``). A
repository that cannot be graded is recorded with its error; the batch goes on.

Which repositories: ``classroom``; which commit and its copy: ``git_export``;
the bar: ``progress``. The gradebook is a CSV (``gradebook``) and a JSON with every result.
A second run reuses the results of every repository whose commit was already
graded by the same bundle (the hash of the grading package and the checks).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path

from .. import files
from ..config import GRADER_ROOT, Limits
from . import gradebook
from .batch import WarmGrader
from .classroom import Repo, collect, parse_shard, shard
from .git_export import RepoError, _git, export_commit, parse_deadline, pick_commit
from .progress import Progress

REPO_TIMEOUT = Limits().judge_timeout  # seconds the judge of one repository may take
SAVE_EVERY = 15.0  # seconds between saves of the gradebook during a run


# --- the grader's identity ---------------------------------------------------------------------


def bundle_id(root: Path = GRADER_ROOT) -> str:
    """The hash of the grading package and the checks: a results entry graded
    by another bundle is graded again."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in files.grader_paths(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def grade_repo(repo: Repo, *, bundle: str, deadline: datetime | None, previous: dict | None, grade_submission) -> dict:
    """The gradebook entry of one repository; never raises for a problem of the repository."""
    entry = {"repository": repo.key, "path": str(repo.path), "username": repo.username, "bundle": bundle,
             "commit": None, "commit_date": None, "error": None, "results": None, "seconds": 0.0}  # fmt: skip
    started = time.monotonic()
    try:
        entry["commit"], entry["commit_date"] = pick_commit(repo.path, deadline)
        if previous and not previous.get("error") and previous.get("results") is not None:
            if (previous.get("commit"), previous.get("bundle")) == (entry["commit"], bundle):
                return {**previous, "path": str(repo.path), "username": repo.username, "skipped": True}
        with tempfile.TemporaryDirectory(prefix="regrade-") as tmp:
            checkout = Path(tmp) / "repo"
            checkout.mkdir()
            export_commit(repo.path, entry["commit"], checkout)
            if not (checkout / "assignments").is_dir():
                raise RepoError("the commit has no assignments/ folder")
            entry["results"] = grade_submission(checkout / "assignments")
    except RepoError as error:
        entry["error"] = " ".join(str(error).split())
    except (OSError, tarfile.TarError) as error:
        entry["error"] = " ".join(f"{type(error).__name__}: {error}".split())
    entry["seconds"] = round(time.monotonic() - started, 1)
    return entry


# --- posting feedback -------------------------------------------------------------------------


def _poster():
    """``post_feedback`` for a results JSON, imported only when --post asks for it."""
    from ..github.post import post_feedback
    from ..report.model import Results

    return lambda results, **where: post_feedback(Results.from_json(results), **where)


def github_repository(path: Path) -> str:
    """``owner/name`` from the clone's ``origin`` remote."""
    url = _git(path, "remote", "get-url", "origin")
    match = re.search(r"[:/]([^/:]+)/([^/]+?)(?:\.git)?/?$", url)
    if not match:
        raise RepoError(f"cannot tell the GitHub repository from the remote {url!r}")
    return f"{match.group(1)}/{match.group(2)}"


def post_all(entries: list[dict], post_feedback, token: str, api_url: str):
    """Post each graded entry's feedback; a failure is recorded as its ``post_error``."""
    for entry in entries:
        if entry.get("error") or not entry.get("results"):
            continue
        try:
            slug = github_repository(Path(entry["path"]))
            status = post_feedback(entry["results"], repository=slug, token=token, api_url=api_url)
            failed = getattr(status, "ok", True) is False
            entry["post_error"] = str(status) if failed else None
            print(f"{'could not post' if failed else 'posted'} feedback for {entry['repository']}: {status or slug}", flush=True)
        except Exception as error:  # one failed post never stops the others
            entry["post_error"] = f"{type(error).__name__}: {error}"
            print(f"could not post feedback for {entry['repository']}: {entry['post_error']}", file=sys.stderr, flush=True)


# --- the command ------------------------------------------------------------------------------


def register(verbs):
    p = verbs.add_parser(
        "regrade",
        help="grade many student clones into a gradebook CSV",
        description="Grade every student clone under ROOT (as `gh classroom clone student-repos` lays them out) "
        "or the given repositories, into a gradebook CSV and JSON.",
    )
    p.add_argument("paths", nargs="*", metavar="ROOT|REPO", help="a folder of clones, or repository paths")
    p.add_argument("--repos", metavar="FILE", help="a file listing repository paths, one per line, relative to the file's folder")
    p.add_argument("--prefix", help="only repositories whose folder name starts with this assignment prefix; it is stripped to give the username")
    p.add_argument("--out", default="gradebook.csv", help="the gradebook CSV (default: gradebook.csv); the JSON goes next to it")
    p.add_argument("--json", help="the full results JSON (default: the CSV's path with .json)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="repositories graded at once (default: the number of cores)")
    p.add_argument("--deadline", help="grade each student's last commit before this ISO 8601 time (default: HEAD)")
    p.add_argument("--shard", help="grade only shard I of N (round robin over the repositories sorted by path), e.g. 1/4")
    p.add_argument("--list", action="store_true", help="print the repositories this run would grade, and stop")
    p.add_argument("--fresh", action="store_true", help="grade everything again, ignoring earlier results")
    p.add_argument("--resume", metavar="JSON", help="reuse the results in this gradebook JSON (default: --json's own file)")
    p.add_argument("--timeout", type=float, default=REPO_TIMEOUT, help=f"seconds one repository may take (default: {REPO_TIMEOUT:g})")
    p.add_argument("--post", action="store_true", help="post each student's feedback to their Feedback pull request (token from GITHUB_TOKEN or GH_TOKEN)")
    p.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL", "https://api.github.com"), help="the GitHub API (default: GITHUB_API_URL or api.github.com)")
    p.add_argument("--merge", nargs="+", metavar="CSV", help="merge these shard gradebooks into --out instead of grading")
    p.set_defaults(func=cmd_regrade)


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


def cmd_regrade(args) -> int:
    if args.merge:
        return gradebook.main([*args.merge, "--out", args.out])
    if not args.paths and not args.repos:
        return _usage("name a folder of student clones (ROOT), repository paths, or --repos FILE")
    try:
        deadline = parse_deadline(args.deadline) if args.deadline else None
        shard_of = parse_shard(args.shard) if args.shard else None
        if args.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        repos = collect(args.paths, args.repos, args.prefix)
    except (ValueError, OSError) as error:
        return _usage(str(error))
    if shard_of:
        repos = shard(repos, *shard_of)
    if args.list:
        for repo in repos:
            print(repo.key)
        return 0
    post_feedback = token = None
    if args.post:
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        if not token:
            return _usage("--post needs a token in GITHUB_TOKEN or GH_TOKEN")
        try:
            post_feedback = _poster()
        except RuntimeError as error:
            return _usage(str(error))

    csv_path = Path(args.out)
    json_path = Path(args.json) if args.json else gradebook.json_path_for(csv_path)
    resume_from = Path(args.resume) if args.resume else json_path
    previous = {} if args.fresh else {e["repository"]: e for e in gradebook.load_entries(resume_from)}
    bundle = bundle_id()
    if not (GRADER_ROOT / "grading" / "manifest.json").exists():
        print("regrade: note: this grader has no grading/manifest.json (the source repository?), so integrity flags "
              "compare with this tree; regrade from a release's grader/ folder for the template's recorded hashes", flush=True)  # fmt: skip
    meta = {"bundle": bundle, "deadline": deadline.isoformat() if deadline else None, "shard": args.shard}
    print(f"regrade: {len(repos)} repositories, bundle {bundle}, {args.jobs} at a time"
          + (f", last commits before {deadline.isoformat()}" if deadline else ""), flush=True)  # fmt: skip

    with WarmGrader(args.timeout) as grade_submission:
        entries = grade_all(repos, jobs=args.jobs, bundle=bundle, deadline=deadline, previous=previous,
                            grade_submission=grade_submission, save=lambda done: gradebook.write(done, csv_path, json_path, meta))  # fmt: skip
    if post_feedback:
        post_all(entries, post_feedback, token, args.api_url)
    gradebook.write(entries, csv_path, json_path, meta)
    errors = sum(bool(e.get("error")) for e in entries)
    skipped = sum(bool(e.get("skipped")) for e in entries)
    print(f"regrade: {len(entries)} repositories: {len(entries) - errors - skipped} graded, {skipped} already graded, "
          f"{errors} errors; wrote {csv_path} and {json_path}", flush=True)  # fmt: skip
    return 0


def grade_all(repos: list[Repo], *, jobs: int, bundle: str, deadline, previous: dict, grade_submission, save=None) -> list[dict]:
    """Grade every repository, ``jobs`` at a time; save the gradebook now and then."""
    progress = Progress(len(repos))
    entries: list[dict] = []
    last_save = time.monotonic()
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(grade_repo, repo, bundle=bundle, deadline=deadline, previous=previous.get(repo.key), grade_submission=grade_submission): repo
            for repo in repos
        }
        for future in as_completed(futures):
            repo = futures[future]
            try:
                entry = future.result()
            except Exception as error:  # a bug of ours must not stop the batch either
                entry = {"repository": repo.key, "path": str(repo.path), "username": repo.username, "bundle": bundle,
                         "commit": None, "commit_date": None, "results": None, "error": f"regrade failed: {type(error).__name__}: {error}"}  # fmt: skip
            with lock:
                entries.append(entry)
                progress.update(entry)
                if save and time.monotonic() - last_save > SAVE_EVERY:
                    done = {e["repository"] for e in entries}
                    save(entries + [previous[r.key] for r in repos if r.key in previous and r.key not in done])
                    last_save = time.monotonic()
    return sorted(entries, key=lambda e: e["repository"])
