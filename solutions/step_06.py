"""Step 06: position embeddings.

Attention on its own cannot tell the first token from the last, so GPT-2 adds
a learned vector for each position 0 … n_positions - 1, looked up in a second
table, ``wpe`` (word position embeddings). This is the ``wpe`` of Hugging
Face's ``GPT2Model``, an ``nn.Embedding(n_positions, n_embd)``.
"""

import torch.nn as nn

from step_01 import GPT2Config


class GPT2PositionEmbeddings(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)  # weight (n_positions, n_embd)

    def forward(self, position_ids):
        # position_ids: any shape (...), integers in [0, n_positions), usually torch.arange(T)
        return self.wpe(position_ids)  # (..., n_embd)
