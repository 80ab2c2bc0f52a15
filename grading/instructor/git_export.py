"""Reading a student's clone without touching it: which commit to grade
(its HEAD, or its last commit before a deadline) and a copy of that commit
from ``git archive``. Called by ``grading.instructor.regrade``.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path


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
