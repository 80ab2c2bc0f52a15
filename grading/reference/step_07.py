"""Reference for step 07, put in place of the submission's ``step_07`` when a
later step is graded, so that step is graded on its own.

It is what transformers' ``GPT2Attention`` computes with its "sdpa"
implementation, written in torch behind the course's API: ``nn.Linear``
layers ``c_attn`` and ``c_proj`` (so the state dict is exactly
``c_attn.weight``, ``c_attn.bias``, ``c_proj.weight``, ``c_proj.bias``, with
Linear's ``(out, in)`` weights), no dropout, and torch's
``scaled_dot_product_attention`` with the same arguments. Its numbers are
Hugging Face's up to float32 rounding (``Conv1D`` multiplies by the
transposed weight), and to the last bit where Hugging Face's module has
``nn.Linear`` layers too (``tests/suite/test_engine.py``). ``forward``
returns the attention output only. The hidden tests of step 07 compare with
Hugging Face's own module.

It is plain torch, not a subclass of transformers' module, so a worker that
runs on it never imports transformers: a spawned worker of a later step
(Windows, macOS) would spend seconds on that import.
"""

import torch.nn.functional as F
from torch import nn


class GPT2MultiHeadAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed_dim = config.n_embd
        self.num_heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, hidden_states):
        batch, tokens, _ = hidden_states.shape
        query, key, value = (
            part.view(batch, tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (batch, head, token, head_dim)
            for part in self.c_attn(hidden_states).split(self.embed_dim, dim=2)
        )
        attended = F.scaled_dot_product_attention(query, key, value, scale=self.head_dim**-0.5, is_causal=True)
        return self.c_proj(attended.transpose(1, 2).reshape(batch, tokens, self.embed_dim))
