"""Step 11 whose forward reads the transformer's parts one by one
(``self.transformer.wte``, ``.wpe``, ``.h``, ``.ln_f``), as nanoGPT's
``GPT.forward`` does, instead of calling ``self.transformer(input_ids)``."""

import torch
import torch.nn as nn

from step_01 import GPT2Config
from step_10 import GPT2Model


class GPT2LMHeadModel(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, input_ids):
        t = self.transformer
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        x = t.wte(input_ids) + t.wpe(positions)  # (B, T, n_embd)
        for block in t.h:
            x = block(x)  # (B, T, n_embd)
        return self.lm_head(t.ln_f(x))  # (B, T, vocab_size)
