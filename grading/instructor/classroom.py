"""Which repositories a regrade grades: the layout ``gh classroom clone
student-repos`` leaves, explicit paths, or a list file; and their split into
shards for a matrix of jobs. Called by ``grading.instructor.regrade``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

SUBMISSIONS_SUFFIX = "-submissions"




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
