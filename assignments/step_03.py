"""Step 03: layer normalization.

Build ``LayerNorm``: it rescales every vector along the last dimension to
mean 0 and variance 1, then applies a learned scale (``weight``) and shift
(``bias``). GPT-2 uses one before each attention and MLP (``ln_1``,
``ln_2``) and one at the very end (``ln_f``). It computes what
``torch.nn.LayerNorm`` computes; here you write it yourself.

Read assignments/step_03.md first. Check your work with:

    python -m grading check 3
"""

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, dim, *, eps=1e-5):
        super().__init__()
        self.eps = eps
        # TODO 1: create the learned scale `self.weight` (all ones) and shift `self.bias` (all zeros),
        # each of shape (dim,).
        # Hint: wrap the tensors in nn.Parameter so they are trained and saved in the state dict.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.parameter.Parameter.html
        self.weight = None
        self.bias = None

    def forward(self, x):
        # TODO 2: compute the mean and the variance of x over its last dimension, shape (..., 1).
        # Hint: x.mean(dim=-1, keepdim=True); the variance must divide by dim, not dim - 1 (unbiased=False).
        # Docs: https://pytorch.org/docs/stable/generated/torch.var.html

        # TODO 3: normalize: subtract the mean and divide by the square root of (variance + self.eps).
        # Hint: eps goes inside the square root: torch.sqrt(var + self.eps).
        # Docs: https://pytorch.org/docs/stable/generated/torch.sqrt.html

        # TODO 4: scale by self.weight and shift by self.bias, and return the result (same shape as x).
        # Hint: weight and bias have shape (dim,), so they broadcast over all leading dimensions.
        # Docs: https://pytorch.org/docs/stable/notes/broadcasting.html
        raise NotImplementedError("LayerNorm.forward is not written yet: see assignments/step_03.md")
