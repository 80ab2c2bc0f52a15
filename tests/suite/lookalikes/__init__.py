"""Correct look-alikes: reference solutions written another correct way.

The mutation catalogue (``tests/suite/mutants/``) proves that the step checks
fail on mistakes; the look-alikes prove the other half, that they do not fail
a correct submission for its style. Each file here is a full copy of one
``solutions/step_NN.py`` in another style a student may well choose, named
``step_NN_<style>.py``: it replaces ``step_NN.py`` in a copy of the solutions,
and that step must still earn full marks (``tests/suite/test_lookalikes.py``).

Step 12 samples in four ways, since sampling is graded by its distribution and
not by transformers' random stream:

* ``step_12_gather_topk.py``: softmax over the k kept logits, a draw among
  them with ``torch.multinomial``, mapped back to vocabulary ids with ``gather``;
* ``step_12_gumbel.py``: the Gumbel-max trick, ``argmax(logits / T + Gumbel noise)``;
* ``step_12_categorical.py``: ``torch.distributions.Categorical(logits=...)``;
* ``step_12_inverse_cdf.py``: ``torch.rand`` against the cumulative sum of the
  probabilities, found with ``torch.searchsorted``.

To add one for another step, write ``step_NN_<style>.py`` (say
``step_07_mask_buffer.py``) as a full copy of that step's solution, changed
only in style; the suite picks it up by its name.
"""
