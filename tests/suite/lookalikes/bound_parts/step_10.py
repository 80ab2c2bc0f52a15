"""Step 10 whose forward uses the blocks and the final norm as bound once in
__init__ (a tuple of the blocks, ln_f's bound forward)."""

import torch
from torch import nn

from step_01 import GPT2Config
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self._blocks = tuple(self.h)
        self._final_norm = self.ln_f.forward

    def forward(self, input_ids):
        T = input_ids.shape[1]
        x = self.wte(input_ids) + self.wpe(torch.arange(T, device=input_ids.device))  # (B, T, n_embd)
        for block in self._blocks:
            x = block(x)  # (B, T, n_embd)
        return self._final_norm(x)  # (B, T, n_embd)
