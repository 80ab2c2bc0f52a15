"""Reference for step 08, put in place of the submission's ``step_08`` when a
later step is graded, so that step is graded on its own: ``torch.add`` for the
residual connection and a ``torch.nn.LayerNorm`` as the pre-norm ``ln``
(state-dict keys ``ln.weight``, ``ln.bias``)."""

import torch
from torch import nn


def apply_residual_connection(input_tensor, sublayer_output):
    return torch.add(input_tensor, sublayer_output)


class ResidualBlock(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.ln = nn.LayerNorm(dim, eps=eps)

    def forward(self, x, sublayer_output):
        return torch.add(x, sublayer_output)
