"""Recorded hashes of what the template shipped: the protected files (the
workflow, the visible checks, the grading package) and the starters.

``release`` writes ``grading/manifest.json`` into the template and the grader
bundle. The grader reads it to flag protected files a submission changed
(integrity flags, never deductions) and to tell a step that was never started
(its file is still the starter) from one that fails. In the source repository
there is no manifest file, so it is computed from the working tree.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .config import GRADER_ROOT, STEPS

MANIFEST = Path(__file__).resolve().parent / "manifest.json"
# What the template ships and a student has no reason to change. The
# reference step modules ship only in the grader bundle (they hold answers).
PROTECTED = (".github/workflows/classroom.yml", "tests/visible", "grading", "assignments/generate.py")


def is_reference_step(relative_path: str) -> bool:
    """``grading/reference/step_NN.py``: in the grader bundle only."""
    parts = Path(relative_path).parts
    return parts[:2] == ("grading", "reference") and parts[-1].startswith("step_")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _protected_files(root: Path):
    for top in PROTECTED:
        base = root / top
        candidates = [base] if base.is_file() else sorted(base.rglob("*")) if base.exists() else []
        for path in candidates:
            relative = path.relative_to(root).as_posix()
            if path.is_file() and "__pycache__" not in path.parts and path.name != MANIFEST.name and not is_reference_step(relative):
                yield path


def build_manifest(root: Path = GRADER_ROOT) -> dict:
    """Hashes of ``root``'s protected files and starters, as data."""
    root = Path(root)
    starters = root / "assignments"
    return {
        "protected": {path.relative_to(root).as_posix(): sha256(path) for path in _protected_files(root)},
        "starters": {
            step.filename: sha256(starters / step.filename) for step in STEPS if (starters / step.filename).exists()
        },
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
