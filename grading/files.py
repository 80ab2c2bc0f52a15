"""Which files are the grader's, walked one way, and the manifest of what the
template shipped.

One walker (``walk``) and one list of the grader's own files
(``GRADER_OWN``) serve the manifest, the release, the bundle id of a regrade
and the judge's snapshot of its own files.

``release`` writes ``grading/manifest.json`` into the template and the grader
bundle: the hashes of the protected files (the workflow, the visible checks,
the grading package) and of the starters. The grader reads it to flag
protected files a submission changed (integrity flags, never deductions) and
to tell a step that was never started (its file is still the starter) from
one that fails. In the source repository there is no manifest file, so it is
computed from the working tree.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

from .config import GRADER_ROOT, STEPS

SKIPPED = frozenset({"__pycache__", ".pytest_cache", ".DS_Store", "manifest.json"})
# The grader's own files: what grades, as opposed to what is graded.
GRADER_OWN = ("grading", "tests/visible", "tests/hidden", "tests/__init__.py")
# What the template ships and a student has no reason to change. The
# reference step modules ship only in the grader bundle (they hold answers).
PROTECTED = (".github/workflows/classroom.yml", ".devcontainer", "tests/visible", "tests/conftest.py", "grading", "assignments/generate.py")
MANIFEST = Path(__file__).resolve().parent / "manifest.json"


def walk(root: Path, top: str = ".", *, folders: bool = False) -> Iterator[Path]:
    """The files (and, with ``folders``, the folders) at or under ``root/top``,
    sorted, without caches and generated files."""
    base = Path(root) / top
    if base.is_file():
        yield base
        return
    if not base.is_dir():
        return
    if folders:
        yield base
    for path in sorted(base.rglob("*")):
        parts = path.relative_to(root).parts
        if SKIPPED.intersection(parts) or path.suffix == ".pyc":
            continue
        if path.is_file() or (folders and path.is_dir()):
            yield path


def relative_files(root: Path, top: str) -> list[str]:
    """``walk`` as posix paths relative to ``root``."""
    return [path.relative_to(root).as_posix() for path in walk(root, top)]


def grader_paths(root: Path = GRADER_ROOT, *, folders: bool = False) -> Iterator[Path]:
    for top in GRADER_OWN:
        yield from walk(root, top, folders=folders)


def is_reference_step(relative_path: str) -> bool:
    """``grading/reference/step_NN.py``: in the grader bundle only."""
    parts = Path(relative_path).parts
    return parts[:2] == ("grading", "reference") and parts[-1].startswith("step_")


def is_instructor_only(relative_path: str) -> bool:
    """Files the student template never ships: the references (they hold
    answers) and ``grading/instructor/`` (release and regrade)."""
    return is_reference_step(relative_path) or Path(relative_path).parts[:2] == ("grading", "instructor")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_manifest(root: Path = GRADER_ROOT) -> dict:
    """Hashes of ``root``'s protected files and starters, as data."""
    root = Path(root)
    protected = {}
    for top in PROTECTED:
        for rel in relative_files(root, top):
            if not is_instructor_only(rel):
                protected[rel] = sha256(root / rel)
    starters = root / "assignments"
    return {
        "protected": protected,
        "starters": {step.filename: sha256(starters / step.filename) for step in STEPS if (starters / step.filename).exists()},
    }


def load_manifest() -> dict:
    """The recorded manifest, or one computed from the source tree."""
    if MANIFEST.exists():
        return json.loads(MANIFEST.read_text())
    return build_manifest(GRADER_ROOT)


def unchanged_starters(submission: Path, manifest: dict | None = None) -> set[str]:
    """Ids of the steps whose file in ``submission`` is still the starter."""
    manifest = manifest or load_manifest()
    same = set()
    for step in STEPS:
        path = Path(submission) / step.filename
        recorded = manifest.get("starters", {}).get(step.filename)
        if recorded and path.exists() and sha256(path) == recorded:
            same.add(step.id)
    return same
