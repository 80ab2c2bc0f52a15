"""Step 10 with GPT-2 small's configuration from step 01's helper as the default."""

import torch
from torch import nn

from step_01 import make_config
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        self.config = config = config if config is not None else make_config()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        T = input_ids.shape[1]
        x = self.wte(input_ids) + self.wpe(torch.arange(T, device=input_ids.device))  # (B, T, n_embd)
        for block in self.h:
            x = block(x)  # (B, T, n_embd)
        return self.ln_f(x)  # (B, T, n_embd)
