"""Step 07: multi-head causal self-attention.

Build ``GPT2MultiHeadAttention``, the one place in GPT-2 where tokens look at
each other. Every token makes a query, a key and a value; a token's output is
a mix of the values of itself and the tokens before it, weighted by how well
its query matches their keys. ``n_head`` heads do this in parallel on slices
of the vector, and ``c_proj`` combines them. It is the attention of Hugging
Face's ``GPT2Attention``, with ``nn.Linear`` in place of ``Conv1D``.

Read assignments/step_07.md first. Check your work with:

    python -m grading check 7
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

        # TODO 1: create `self.c_attn`, one linear layer that makes the queries, keys and values of
        # every head at once: n_embd numbers in, 3 * n_embd out (q, then k, then v), with a bias.
        # Hint: a single nn.Linear(in_features, out_features) is three projections side by side.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
        self.c_attn = None

        # TODO 2: create `self.c_proj`, the linear layer that mixes the heads' outputs: n_embd in, n_embd out.
        # Hint: same kind of layer as c_attn, square this time.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
        self.c_proj = None

    def forward(self, hidden_states):
        B, T, C = hidden_states.size()  # batch, tokens, n_embd
        nh, hs = self.n_head, self.head_dim

        # TODO 3: run c_attn and split its output into q, k and v, each (B, T, C), in that order.
        # Hint: Tensor.split(self.n_embd, dim=2) cuts the last dimension into pieces of n_embd.
        # Docs: https://pytorch.org/docs/stable/generated/torch.split.html

        # TODO 4: give each head its own slice: reshape q, k and v from (B, T, C) to (B, nh, T, hs).
        # Hint: first .view(B, T, nh, hs) (the heads are consecutive slices of C), then swap dims 1 and 2.
        # Docs: https://pytorch.org/docs/stable/generated/torch.Tensor.view.html

        # TODO 5: compute the attention scores, query i against key j, scaled by 1 / sqrt(head_dim): (B, nh, T, T).
        # Hint: q @ k.transpose(-2, -1) gives every dot product at once; divide by math.sqrt(hs).
        # Docs: https://pytorch.org/docs/stable/generated/torch.matmul.html

        # TODO 6: hide the future: add causal_mask(T, dtype=..., device=...) from step 02 to the scores,
        # then turn each row into weights that sum to 1 over the keys.
        # Hint: add the mask BEFORE the softmax, and take the softmax over the last dimension (the keys).
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html

        # TODO 7: mix the values with the weights, (B, nh, T, hs), put the heads side by side again,
        # (B, T, C), and return c_proj of the result.
        # Hint: undo TODO 4 in reverse order: .transpose(1, 2), then .contiguous().view(B, T, C).
        # Docs: https://pytorch.org/docs/stable/generated/torch.Tensor.contiguous.html
        raise NotImplementedError("GPT2MultiHeadAttention.forward is not written yet: see assignments/step_07.md")
