"""Step 04 with the width taken from step 01's helper when none is given."""

import torch.nn.functional as F
from torch import nn

from step_01 import GPT2Config, n_inner_of


class GPT2MLP(nn.Module):
    def __init__(self, intermediate_size, config: GPT2Config):
        super().__init__()
        width = n_inner_of(config) if intermediate_size is None else intermediate_size
        self.c_fc = nn.Linear(config.n_embd, width)  # n_embd -> width
        self.c_proj = nn.Linear(width, config.n_embd)  # width -> n_embd

    def forward(self, hidden_states):
        hidden_states = self.c_fc(hidden_states)  # (B, T, width)
        hidden_states = F.gelu(hidden_states, approximate="tanh")  # (B, T, width)
        return self.c_proj(hidden_states)  # (B, T, n_embd)
