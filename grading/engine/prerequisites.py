"""Earlier steps in a worker: the grader's reference modules stand in for
the submission's, so a bug in step 03 never costs step 09 its points; and
the answers of this step and later ones are out of reach.

``preload_references`` runs in the judge (workers inherit what it imports);
the rest runs in the worker before the step module is imported.
"""

from __future__ import annotations

import importlib
import sys

from ..config import STEPS, Step

def preload_references(before: Step):
    """Import, in the judge, the reference modules a worker for ``before``
    will use (and transformers' GPT-2 code behind them), so each forked worker
    inherits them instead of importing them again."""
    loaded = False
    for earlier in STEPS:
        if earlier.id >= before.id:
            break
        try:
            importlib.import_module(f"grading.reference.{earlier.module}")
            loaded = True
        except ModuleNotFoundError:
            pass
    if loaded and before.id >= "09":  # blocks and up build the step 04/07 references on transformers
        importlib.import_module("transformers.models.gpt2.modeling_gpt2")


def install_reference_steps(before: Step):
    for earlier in STEPS:
        if earlier.id >= before.id:
            break
        try:
            sys.modules[earlier.module] = importlib.import_module(f"grading.reference.{earlier.module}")
        except ModuleNotFoundError:
            pass  # no reference for that step yet (the student template): the submission's own is used


def hide_answers(step: Step):
    """The references of this step and later ones, and any solutions folder
    on the path, hold answers: importing them fails in a worker."""
    for later in STEPS:
        if later.id >= step.id:
            sys.modules[f"grading.reference.{later.module}"] = None
    sys.modules["solutions"] = None
