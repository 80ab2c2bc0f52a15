"""Reference for step 03, put in place of the submission's ``step_03`` when a
later step is graded, so that step is graded on its own: ``torch.nn.LayerNorm``
behind the course's signature ``LayerNorm(dim, *, eps=1e-5)`` (parameters
``weight`` and ``bias``)."""

from torch import nn


class LayerNorm(nn.LayerNorm):
    def __init__(self, dim, *, eps=1e-5):
        super().__init__(dim, eps=eps)
