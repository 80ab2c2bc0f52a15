"""Step 04: the feed-forward network.

Build ``GPT2MLP``, the second half of every transformer block: each token's
vector is widened from ``n_embd`` to ``intermediate_size`` (4 × 768 = 3072 in
GPT-2 small), passed through GELU, and projected back to ``n_embd``. It
mirrors Hugging Face's ``GPT2MLP``, with ``nn.Linear`` where Hugging Face
uses ``Conv1D``.

Read assignments/step_04.md first. Check your work with:

    python -m grading check 4
"""

import torch.nn.functional as F
from torch import nn

from step_01 import GPT2Config


class GPT2MLP(nn.Module):
    def __init__(self, intermediate_size, config: GPT2Config):
        super().__init__()
        # TODO 1: create `self.c_fc`, a linear layer from config.n_embd to intermediate_size features.
        # Hint: nn.Linear(in_features, out_features) keeps its bias by default, and GPT-2 needs it.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
        self.c_fc = None

        # TODO 2: create `self.c_proj`, a linear layer from intermediate_size back to config.n_embd features.
        # Hint: use the argument intermediate_size, not config.n_inner: a caller may choose another width.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
        self.c_proj = None

    def forward(self, hidden_states):
        # TODO 3: apply c_fc, then GELU with the tanh approximation, then c_proj, and return the result.
        # Hint: F.gelu(x, approximate="tanh") is the "gelu_new" GPT-2 was trained with; shapes go
        # (B, T, n_embd) -> (B, T, intermediate_size) -> (B, T, n_embd).
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.functional.gelu.html
        raise NotImplementedError("GPT2MLP.forward is not written yet: see assignments/step_04.md")
