"""Step 03: layer normalization.

Builds ``LayerNorm``, the same computation as ``torch.nn.LayerNorm(dim)``,
which Hugging Face's GPT-2 uses as ``ln_1``, ``ln_2`` and ``ln_f``: each
vector along the last dimension is shifted to mean 0 and scaled to variance 1,
then stretched by a learned ``weight`` and shifted by a learned ``bias``.
"""

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, dim, *, eps=1e-5):
        super().__init__()
        self.eps = eps  # keeps the division safe when a vector is (nearly) constant
        self.weight = nn.Parameter(torch.ones(dim))  # (dim,): learned scale, starts at 1
        self.bias = nn.Parameter(torch.zeros(dim))  # (dim,): learned shift, starts at 0

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1): divide by dim, not dim - 1
        x = (x - mean) / torch.sqrt(var + self.eps)  # (..., dim): mean 0, variance 1
        return x * self.weight + self.bias  # (..., dim)
