"""Step 06 with GPT-2 small's configuration from step 01's helper as the default."""

import torch.nn as nn

from step_01 import make_config


class GPT2PositionEmbeddings(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        config = config if config is not None else make_config()
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)  # weight (n_positions, n_embd)

    def forward(self, position_ids):
        return self.wpe(position_ids)  # (...) -> (..., n_embd)
