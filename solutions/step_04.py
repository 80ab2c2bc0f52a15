"""Step 04: the feed-forward network.

Builds ``GPT2MLP``, Hugging Face's ``GPT2MLP`` with ``nn.Linear`` in place of
``Conv1D`` (and no dropout, which only matters in training): every position's
vector is widened from ``n_embd`` to ``intermediate_size`` by ``c_fc``, passed
through the tanh approximation of GELU (``"gelu_new"``, the one OpenAI's GPT-2
was trained with), and projected back to ``n_embd`` by ``c_proj``.
"""

import torch.nn.functional as F
from torch import nn

from step_01 import GPT2Config


class GPT2MLP(nn.Module):
    def __init__(self, intermediate_size, config: GPT2Config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, intermediate_size)  # n_embd -> intermediate_size
        self.c_proj = nn.Linear(intermediate_size, config.n_embd)  # intermediate_size -> n_embd

    def forward(self, hidden_states):
        hidden_states = self.c_fc(hidden_states)  # (B, T, intermediate_size)
        hidden_states = F.gelu(hidden_states, approximate="tanh")  # (B, T, intermediate_size)
        hidden_states = self.c_proj(hidden_states)  # (B, T, n_embd)
        return hidden_states
