"""Step 07 with the causal mask kept as OpenAI's checkpoint keeps it: a
persistent buffer ``bias`` of lower-triangular ones, shape
(1, 1, n_positions, n_positions), sliced to the sequence in forward (the
attention of Hugging Face's GPT-2 before transformers 4.x made it
non-persistent)."""

import math

import torch
import torch.nn as nn


class GPT2MultiHeadAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        n = config.n_positions
        self.n_embd, self.n_head = config.n_embd, config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.register_buffer("bias", torch.tril(torch.ones(n, n)).view(1, 1, n, n))  # 1 where key j <= query i

    def forward(self, hidden_states):
        B, T, C = hidden_states.size()
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.c_attn(hidden_states).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, T)
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))  # (B, nh, T, T)
        y = att.softmax(dim=-1) @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)  # (B, T, C)
