"""Correct implementations written in other styles earn full marks.

Each folder ``tests/suite/lookalikes/<style>/`` holds only the step files that
differ from ``solutions/``; the suite copies the solutions, lays the style's
files over them and grades the result. Each style is a way real GPT-2 code
is written (transformers, OpenAI's checkpoint, nanoGPT) and has cost points
before:

* ``config_helper``: ``n_inner: Optional[int]``, and helpers kept in
  ``step_01.py`` (``make_config``, ``n_inner_of``) that steps 04–11 import;
* ``mask_buffer``: step 07 keeps the causal mask as a persistent buffer
  ``bias`` of shape (1, 1, n_positions, n_positions), as OpenAI's checkpoint;
* ``bound_parts``: steps 09 and 10 call parts bound at construction (a list of
  (norm, sublayer) pairs, a bound ``forward``, a tuple of the blocks);
* ``direct_head``: step 11 reads ``self.transformer.wte``, ``.wpe``, ``.h``,
  ``.ln_f`` itself instead of calling ``self.transformer(ids)``;
* ``own_extras``: step 10 has an extra ``drop`` that its step 11 uses, so
  step 11 runs only on the student's own step 10.

    pytest tests/suite/test_lookalike_styles.py -q
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.suite.mutation import grade, make_submission

LOOKALIKES = Path(__file__).resolve().parent / "lookalikes"
STYLES = sorted(path.name for path in LOOKALIKES.iterdir() if path.is_dir() and any(path.glob("step_*.py")))


def lookalike(folder: Path, style: str) -> Path:
    """The solutions with the style's step files laid over them."""
    make_submission(folder, {})
    for source in sorted((LOOKALIKES / style).glob("step_*.py")):
        shutil.copy(source, folder / source.name)
    return folder


def test_every_style_is_here():
    assert {"config_helper", "mask_buffer", "bound_parts", "direct_head", "own_extras"} <= set(STYLES)


@pytest.mark.parametrize("style", STYLES)
def test_a_correct_lookalike_earns_full_marks(tmp_path, style, warm_grader):
    results = grade(lookalike(tmp_path / style, style), grader=warm_grader)  # as a lone run grades (test_zygote)
    failing = [f"{t['name']}: {t['output'][:200]}" for t in results["tests"] if t["status"] != "passed"]
    assert results["score"] == 100, failing[:5]
    assert not failing, failing[:5]
