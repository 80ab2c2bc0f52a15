"""Step 08: residual connections.

A residual connection adds a sublayer's output back onto the sublayer's
input, ``x + sublayer(ln(x))``: the "+ residual" lines of Hugging Face's
``GPT2Block.forward``. GPT-2 is *pre-norm*: the layer norm is applied to the
sublayer's input, never to the sum, so the residual stream ``x`` itself is
carried from block to block untouched except for what each sublayer adds.

``ResidualBlock`` holds that pre-norm (``ln``) and does the addition; the
caller runs the sublayer in between:

    x = block(x, sublayer(block.ln(x)))
"""

from torch import nn

from step_03 import LayerNorm


def apply_residual_connection(input_tensor, sublayer_output):
    return input_tensor + sublayer_output  # (B, T, C) + (B, T, C) -> (B, T, C), a new tensor


class ResidualBlock(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.ln = LayerNorm(dim, eps=eps)  # the pre-norm: the caller applies it to the sublayer's input

    def forward(self, x, sublayer_output):
        return apply_residual_connection(x, sublayer_output)  # (B, T, C): x + sublayer(ln(x))
