"""Step 07: multi-head causal self-attention.

Each token asks a question (its query), advertises what it holds (its key)
and offers a message (its value). A token's output is the average of the
values of the tokens it may see (itself and those before it), weighted by
how well its query matches their keys. ``n_head`` heads do this side by side
on slices of ``head_dim = n_embd // n_head`` numbers, and ``c_proj`` mixes
their results.

This is the attention of Hugging Face's ``GPT2Attention``, with ``nn.Linear``
in place of ``Conv1D`` and no dropout (we only run the model).
"""

import math

import torch.nn as nn

from step_01 import GPT2Config
from step_02 import causal_mask


class GPT2MultiHeadAttention(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_embd = config.n_embd
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # q, k, v of every head in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)  # mixes the heads' outputs

    def forward(self, hidden_states):
        B, T, C = hidden_states.size()  # batch, tokens, n_embd
        nh, hs = self.n_head, self.head_dim

        q, k, v = self.c_attn(hidden_states).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)

        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, T): query i against key j
        att = att + causal_mask(T, dtype=att.dtype, device=att.device)  # (B, nh, T, T): -inf where j > i
        att = att.softmax(dim=-1)  # (B, nh, T, T): each row sums to 1 over the keys
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): the heads side by side again
        return self.c_proj(y)  # (B, T, C)
