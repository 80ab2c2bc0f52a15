"""Step 10 with an extra part that is not in the course's API: the embedding
dropout ``drop`` of Hugging Face's and nanoGPT's models (off here, p = 0)."""

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
        self.drop = nn.Dropout(0.0)
        self.h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        T = input_ids.shape[1]
        x = self.drop(self.wte(input_ids) + self.wpe(torch.arange(T, device=input_ids.device)))  # (B, T, n_embd)
        for block in self.h:
            x = block(x)  # (B, T, n_embd)
        return self.ln_f(x)  # (B, T, n_embd)
