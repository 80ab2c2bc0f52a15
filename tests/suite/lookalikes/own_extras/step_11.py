"""Step 11 in nanoGPT's style, using its own step 10's ``drop`` (not part of
the course's API): the embeddings, dropout, the blocks and ln_f, then the
tied head."""

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
        x = t.drop(t.wte(input_ids) + t.wpe(positions))  # (B, T, n_embd)
        for block in t.h:
            x = block(x)  # (B, T, n_embd)
        return self.lm_head(t.ln_f(x))  # (B, T, vocab_size)
