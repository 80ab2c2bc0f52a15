"""Step 11 with GPT-2 small's configuration from step 01's helper as the default."""

import torch.nn as nn

from step_01 import make_config
from step_10 import GPT2Model


class GPT2LMHeadModel(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        self.config = config = config if config is not None else make_config()
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, input_ids):
        return self.lm_head(self.transformer(input_ids))  # (B, T, vocab_size)
