"""Step 08: residual connections.

Build ``apply_residual_connection`` and ``ResidualBlock``: the "+ x" that
wraps every sublayer of a GPT-2 block. The block computes
``x + sublayer(ln(x))``: the sublayer (attention or the MLP) reads a
normalized copy of ``x``, and its output is *added* to ``x``. These are the
"residual connection" lines of Hugging Face's ``GPT2Block.forward``.

``ResidualBlock`` is used like this (the caller runs the sublayer):

    x = block(x, sublayer(block.ln(x)))

Read assignments/step_08.md first. Check your work with:

    python -m grading check 8
"""

import torch.nn as nn

from step_03 import LayerNorm


def apply_residual_connection(input_tensor, sublayer_output):
    # input_tensor, sublayer_output: (B, T, C), the same shape
    # TODO 1: return the sum of the residual stream and the sublayer's output.
    # Hint: make a new tensor; an in-place `+=` would overwrite the caller's input_tensor.
    # Docs: https://pytorch.org/docs/stable/generated/torch.add.html
    return None


class ResidualBlock(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        # TODO 2: create the pre-norm `self.ln`, a LayerNorm over the last dimension (size dim).
        # Hint: use your LayerNorm from step 03 and pass eps on: LayerNorm(dim, eps=eps).
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
        self.ln = None

    def forward(self, x, sublayer_output):
        # x: (B, T, C) the residual stream; sublayer_output: (B, T, C) = sublayer(self.ln(x))
        # TODO 3: return x plus the sublayer's output.
        # Hint: the caller already applied self.ln to the sublayer's input; do not normalize again here.
        # Docs: https://pytorch.org/docs/stable/notes/autograd.html
        raise NotImplementedError("ResidualBlock.forward: TODO 3, see assignments/step_08.md")
