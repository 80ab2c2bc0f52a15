"""Step 09: the transformer block.

Build ``GPT2Block``: one layer of GPT-2. It holds a layer norm and the
attention of step 07, then a second layer norm and the MLP of step 04, and
wires them with the residual connections of step 08. GPT-2 is *pre-norm*:
each sublayer reads a normalized copy of ``x``, and its output is added to
``x`` itself. It is Hugging Face's ``GPT2Block``, with the same names, so the
pretrained weights load into yours.

Read assignments/step_09.md first. Check your work with:

    python -m grading check 9
"""

import torch.nn as nn

from step_01 import GPT2Config
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        # TODO 1: create the four parts, in this order, with exactly these names:
        #   self.ln_1: a LayerNorm over config.n_embd numbers, eps=config.layer_norm_epsilon
        #   self.attn: a GPT2MultiHeadAttention(config)
        #   self.ln_2: a second LayerNorm, like ln_1 (its own weights)
        #   self.mlp:  a GPT2MLP(config.n_inner, config)
        # Hint: the names are the keys of the pretrained weights (h.0.ln_1.weight, h.0.attn.c_attn.weight, ...).
        # Docs: https://pytorch.org/docs/stable/notes/modules.html
        self.ln_1 = None
        self.attn = None
        self.ln_2 = None
        self.mlp = None

    def forward(self, hidden_states):
        x = hidden_states  # (B, T, n_embd): the residual stream
        # TODO 2: the attention sublayer, pre-norm: normalize x with ln_1, run attn on it, add the result to x.
        # Hint: one line, x = x + self.attn(self.ln_1(x)); the sum itself is not normalized.
        # Docs: https://pytorch.org/docs/stable/generated/torch.add.html

        # TODO 3: the MLP sublayer, the same way with ln_2 and mlp, on the x that TODO 2 produced. Return x.
        # Hint: one line again; write x = x + ..., not x += ..., so the caller's hidden_states is not changed.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
        raise NotImplementedError("GPT2Block.forward: TODOs 2 and 3, see assignments/step_09.md")
