"""Grade many student clones into a gradebook: the instructor's authoritative grade.

    python -m grading regrade ROOT [--jobs N] [--deadline ISO] [--shard I/N] [--post]
    python -m grading regrade --repos FILE ...      (or repository paths as arguments)
    python -m grading regrade --merge SHARD.csv ... --out gradebook.csv

ROOT is laid out as ``gh classroom clone student-repos`` leaves it,
``ROOT/<assignment>-submissions/<assignment>-<username>/``, or ROOT is the
``-submissions`` folder itself. Each repository's commit (its HEAD, or with
``--deadline`` its last commit before the deadline) is exported with
``git archive`` into a temporary folder, so the clone is never touched, and
graded there by a ``python -m grading run`` subprocess of this grader. A
repository that cannot be graded is recorded with its error; the batch goes on.

The gradebook is a CSV (``grading.gradebook``) and a JSON with every result.
A second run reuses the results of every repository whose commit was already
graded by the same bundle (the hash of the grading package and the checks).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import gradebook
from .config import GRADER_ROOT

SUBMISSIONS_SUFFIX = "-submissions"
REPO_TIMEOUT = 1800.0  # seconds for one repository; the judge has its own, shorter limit
SAVE_EVERY = 15.0  # seconds between saves of the gradebook during a run


# --- the grader's identity ---------------------------------------------------------------------


def bundle_id(root: Path = GRADER_ROOT) -> str:
    """The hash of the grading package and the checks: a results entry graded
    by another bundle is graded again."""
    root = Path(root)
    digest = hashlib.sha256()
    for top in ("grading", "tests/visible", "tests/hidden", "tests/__init__.py"):
        base = root / top
        paths = [base] if base.is_file() else sorted(base.rglob("*")) if base.exists() else []
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


# --- which repositories -----------------------------------------------------------------------


@dataclass(frozen=True)
class Repo:
    path: Path  # absolute
    key: str  # how the gradebook names it: the path under ROOT, or the path as given
    username: str


def _looks_like_repo(path: Path) -> bool:
    return (path / ".git").exists() or (path / "assignments").is_dir()


def _subfolders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def username_of(path: Path, prefix: str | None = None) -> str:
    """``gpt2-alice`` → ``alice``: strip the assignment slug (from the
    ``<slug>-submissions`` folder) or the given prefix."""
    name = path.name
    slugs = [prefix] if prefix else []
    if path.parent.name.endswith(SUBMISSIONS_SUFFIX):
        slugs.append(path.parent.name[: -len(SUBMISSIONS_SUFFIX)])
    for slug in slugs:
        slug = slug.rstrip("-")
        if slug and name.startswith(slug + "-") and len(name) > len(slug) + 1:
            return name[len(slug) + 1 :]
    return name


def is_root(path: Path) -> bool:
    """A folder of clones (one or two levels down), rather than one (maybe broken) clone."""
    if not path.is_dir() or _looks_like_repo(path):
        return False
    if path.name.endswith(SUBMISSIONS_SUFFIX):
        return True
    children = _subfolders(path)
    return any(_looks_like_repo(c) or c.name.endswith(SUBMISSIONS_SUFFIX) for c in children) or any(
        _looks_like_repo(g) for c in children for g in _subfolders(c)
    )


def discover(root: Path) -> list[Path]:
    """The student repositories under ROOT, one or two levels down."""
    root = Path(root)
    if _looks_like_repo(root):
        return [root]
    found = []
    for child in _subfolders(root):
        if _looks_like_repo(child):
            found.append(child)
        elif child.name.endswith(SUBMISSIONS_SUFFIX) or any(_looks_like_repo(g) for g in _subfolders(child)):
            found.extend(_subfolders(child))
        else:
            found.append(child)  # a broken clone: recorded with its error
    return found


def collect(roots: list[str], repos_file: str | None, prefix: str | None) -> list[Repo]:
    """Every repository named by the arguments, sorted by key, filtered by prefix."""
    repos: dict[str, Repo] = {}
    explicit = []  # (path as written, folder it is relative to)
    if repos_file:
        lines = Path(repos_file).read_text(encoding="utf-8").splitlines()
        base = Path(repos_file).resolve().parent
        explicit += [(line.strip(), base) for line in lines if line.strip() and not line.strip().startswith("#")]
    for given in roots:
        path = Path(given)
        if is_root(path):
            base = path.resolve()
            for repo in discover(base):
                key = repo.relative_to(base).as_posix()
                repos[key] = Repo(repo.resolve(), key, username_of(repo, prefix))
        else:
            explicit.append((given, Path.cwd()))
    for given, base in explicit:
        path = (base / given).resolve()
        key = Path(os.path.normpath(given)).as_posix()
        repos[key] = Repo(path, key, username_of(path, prefix))
    selected = [r for r in repos.values() if not prefix or r.path.name.startswith(prefix)]
    return sorted(selected, key=lambda r: r.key)


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"--shard takes I/N with 1 <= I <= N, e.g. 2/4, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def shard(repos: list[Repo], index: int, count: int) -> list[Repo]:
    """Shard ``index`` of ``count`` (from 1): round robin over the repositories sorted by key,
    so every repository is in exactly one shard and the shards differ in size by one at most."""
    ordered = sorted(repos, key=lambda r: r.key)
    return [repo for position, repo in enumerate(ordered) if position % count == index - 1]


# --- grading one repository -------------------------------------------------------------------


class RepoError(Exception):
    """Why a repository could not be graded: one line for the gradebook."""


def _git(repo: Path, *args: str, binary: bool = False, timeout: float = 120):
    proc = subprocess.run(
        ["git", "-c", f"safe.directory={repo}", "-C", str(repo), *args],
        capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env=dict(os.environ, GIT_TERMINAL_PROMPT="0"),
    )  # fmt: skip
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RepoError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout if binary else proc.stdout.decode("utf-8", "replace").strip()


def parse_deadline(text: str) -> datetime:
    """ISO 8601; a time without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--deadline takes an ISO 8601 date and time, e.g. 2025-05-01T23:59:00+02:00, not {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def pick_commit(repo: Path, deadline: datetime | None) -> tuple[str, str]:
    """(sha, committer date in ISO 8601) of the commit to grade."""
    if not repo.is_dir():
        raise RepoError("the folder does not exist")
    if not (repo / ".git").exists():
        raise RepoError("not a git repository (no .git)")
    try:
        head = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except RepoError:
        raise RepoError("the repository has no commits")
    sha = head
    if deadline is not None:
        sha = _git(repo, "rev-list", "-1", f"--before={int(deadline.timestamp())}", "HEAD")
        if not sha:
            raise RepoError(f"no commit before the deadline {deadline.isoformat()}")
    return sha, _git(repo, "show", "-s", "--format=%cI", sha)


def export_commit(repo: Path, sha: str, into: Path):
    """The commit's files, from ``git archive``: the clone's checkout is never used or changed."""
    top = _git(repo, "ls-tree", sha).splitlines()
    if not any(line.split(None, 3)[1:2] == ["tree"] and line.split("\t", 1)[-1] == "assignments" for line in top):
        raise RepoError("the commit has no assignments/ folder")
    data = _git(repo, "archive", "--format=tar", sha, binary=True, timeout=300)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        archive.extractall(into, filter="data")


def run_grader(submission: Path, results_path: Path, timeout: float) -> dict:
    """``python -m grading run`` of this grader on ``submission``, in a session of its own."""
    command = [sys.executable, "-m", "grading", "run", "--submission", str(submission), "--json", str(results_path)]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, cwd=GRADER_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the grader's leftovers, if any
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
        log.seek(0)
        output = log.read().decode("utf-8", "replace").strip().splitlines()
    if code is None:
        raise RepoError(f"the grader did not finish within {timeout:g} s")
    if code != 0 or not results_path.exists():
        last = next((line for line in reversed(output) if line.strip()), "")
        raise RepoError(f"the grader crashed (exit code {code}): {last[:300]}")
    try:
        return json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RepoError(f"the grader's results could not be read: {error}")


def grade_repo(repo: Repo, *, bundle: str, deadline: datetime | None, previous: dict | None, timeout: float) -> dict:
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
            results_dir = Path(tmp) / "results"
            results_dir.mkdir()
            entry["results"] = run_grader(checkout / "assignments", results_dir / "results.json", timeout)
    except RepoError as error:
        entry["error"] = " ".join(str(error).split())
    except (subprocess.TimeoutExpired, OSError, tarfile.TarError) as error:
        entry["error"] = " ".join(f"{type(error).__name__}: {error}".split())
    entry["seconds"] = round(time.monotonic() - started, 1)
    return entry


# --- progress ---------------------------------------------------------------------------------


class Progress:
    """A bar on a terminal; one line per finished repository otherwise."""

    def __init__(self, total: int, bar=None, lines=None):
        self.total, self.done, self.errors, self.skipped = total, 0, 0, 0
        self.bar = bar or sys.stderr
        self.lines = lines or sys.stdout
        self.tty = self.bar.isatty()
        self.started = time.monotonic()

    def update(self, entry: dict):
        self.done += 1
        self.errors += bool(entry.get("error"))
        self.skipped += bool(entry.get("skipped"))
        if self.tty:
            width = 30
            filled = int(width * self.done / max(1, self.total))
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (self.total - self.done) if self.done else 0
            self.bar.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} repos"
                f"  {self.errors} errors  {self.skipped} skipped  {_clock(elapsed)} elapsed, ~{_clock(eta)} left "
            )
            if self.done == self.total:
                self.bar.write("\n")
            self.bar.flush()
        else:
            if entry.get("error"):
                outcome = f"error: {entry['error']}"
            else:
                results = entry["results"]
                outcome = f"{gradebook.points(results['score'])}/{gradebook.points(results['max_score'])}"
                outcome += " (already graded)" if entry.get("skipped") else f" ({entry.get('seconds', 0):.0f} s)"
            commit = (entry.get("commit") or "")[:8]
            print(f"[{self.done}/{self.total}] {entry['repository']} {commit} {outcome}".replace("  ", " "), file=self.lines, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


# --- posting feedback -------------------------------------------------------------------------


def _poster():
    """grading.post.post_feedback, imported only when --post asks for it."""
    try:
        from .post import post_feedback
    except ImportError:
        post_feedback = None
    if not callable(post_feedback):
        raise RuntimeError("--post needs grading.post.post_feedback, which this grader does not have yet")
    return post_feedback


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

    entries = grade_all(repos, jobs=args.jobs, bundle=bundle, deadline=deadline, previous=previous,
                        timeout=args.timeout, save=lambda done: gradebook.write(done, csv_path, json_path, meta))  # fmt: skip
    if post_feedback:
        post_all(entries, post_feedback, token, args.api_url)
    gradebook.write(entries, csv_path, json_path, meta)
    errors = sum(bool(e.get("error")) for e in entries)
    skipped = sum(bool(e.get("skipped")) for e in entries)
    print(f"regrade: {len(entries)} repositories: {len(entries) - errors - skipped} graded, {skipped} already graded, "
          f"{errors} errors; wrote {csv_path} and {json_path}", flush=True)  # fmt: skip
    return 0


def grade_all(repos: list[Repo], *, jobs: int, bundle: str, deadline, previous: dict, timeout: float, save=None) -> list[dict]:
    """Grade every repository, ``jobs`` at a time; save the gradebook now and then."""
    progress = Progress(len(repos))
    entries: list[dict] = []
    last_save = time.monotonic()
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(grade_repo, repo, bundle=bundle, deadline=deadline, previous=previous.get(repo.key), timeout=timeout): repo
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
