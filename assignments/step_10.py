"""Step 10: stack the blocks into ``GPT2Model``.

Build ``GPT2Model``, the whole GPT-2 without its output layer: token
embeddings plus position embeddings, ``n_layer`` transformer blocks one after
the other, and a final layer norm ``ln_f``. It is Hugging Face's
``GPT2Model``, and its weights have the same names (``wte.weight``,
``wpe.weight``, ``h.0.ln_1.weight``, …, ``ln_f.bias``), so OpenAI's
pretrained weights load into it.

Read assignments/step_10.md first. Check your work with:

    python -m grading check 10
"""

import torch
import torch.nn as nn

from step_01 import GPT2Config
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        # TODO 1: the two embedding tables, as nn.Embedding directly on the model:
        #   self.wte: one row of n_embd numbers per token (vocab_size rows), as in step 05
        #   self.wpe: one row of n_embd numbers per position (n_positions rows), as in step 06
        # Hint: not GPT2Embeddings(config) itself, or the weight would be named wte.wte.weight instead of wte.weight.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html
        self.wte = None
        self.wpe = None

        # TODO 2: `self.h`, config.n_layer GPT2Blocks, each with its own weights.
        # Hint: a plain Python list hides the blocks from PyTorch (no h.0... weights); use nn.ModuleList.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.ModuleList.html
        self.h = None

        # TODO 3: `self.ln_f`, the final LayerNorm over n_embd numbers, eps=config.layer_norm_epsilon.
        # Hint: the same LayerNorm as ln_1 and ln_2 in step 09.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
        self.ln_f = None

    def forward(self, input_ids):
        B, T = input_ids.shape  # (B, T) token ids
        # TODO 4: add the token embeddings of input_ids and the position embeddings of positions 0, 1, ..., T-1.
        # Hint: torch.arange(T, device=input_ids.device) makes the positions; (B, T, C) + (T, C) broadcasts.
        # Docs: https://pytorch.org/docs/stable/generated/torch.arange.html

        # TODO 5: run x through every block of self.h in order, each block's output feeding the next,
        # then return self.ln_f of the result: (B, T, n_embd).
        # Hint: for block in self.h: x = block(x)
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.ModuleList.html
        raise NotImplementedError("GPT2Model.forward: TODOs 4 and 5, see assignments/step_10.md")
