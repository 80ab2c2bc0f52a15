"""Step 07 with GPT-2 small's configuration from step 01's helper as the default."""

import math

import torch.nn as nn

from step_01 import make_config
from step_02 import causal_mask


class GPT2MultiHeadAttention(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        config = config if config is not None else make_config()
        self.n_embd, self.n_head = config.n_embd, config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, hidden_states):
        B, T, C = hidden_states.size()
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.c_attn(hidden_states).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))  # 3 x (B, nh, T, hs)
        att = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, T)
        att = (att + causal_mask(T, dtype=att.dtype, device=att.device)).softmax(dim=-1)  # (B, nh, T, T)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)  # (B, T, C)
