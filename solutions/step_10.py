"""Step 10: stacking the blocks into ``GPT2Model``.

Builds ``GPT2Model``, Hugging Face's ``GPT2Model`` without its cache, masks
and dropout: token embeddings plus position embeddings, ``n_layer``
transformer blocks, and a final layer norm. Its state dict has the same keys
as Hugging Face's (``wte.weight``, ``wpe.weight``, ``h.0.ln_1.weight``, …,
``ln_f.bias``), so OpenAI's weights load one to one after the ``Conv1D``
transpose.
"""

import torch
from torch import nn

from step_01 import GPT2Config
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings (step 05)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)  # position embeddings (step 06)
        self.h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        B, T = input_ids.shape  # (B, T) token ids
        assert T <= self.config.n_positions, f"sequence of {T} tokens, but n_positions is {self.config.n_positions}"
        position_ids = torch.arange(T, dtype=torch.long, device=input_ids.device)  # (T,): 0, 1, ..., T-1
        x = self.wte(input_ids) + self.wpe(position_ids)  # (B, T, n_embd) + (T, n_embd) -> (B, T, n_embd)
        for block in self.h:
            x = block(x)  # (B, T, n_embd)
        return self.ln_f(x)  # (B, T, n_embd)
