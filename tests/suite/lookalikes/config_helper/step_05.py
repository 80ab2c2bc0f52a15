"""Step 05 with GPT-2 small's configuration from step 01's helper as the default."""

import torch.nn as nn

from step_01 import make_config


class GPT2Embeddings(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        config = config if config is not None else make_config()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # weight (vocab_size, n_embd)

    def forward(self, input_ids):
        return self.wte(input_ids)  # (B, T) -> (B, T, n_embd)
