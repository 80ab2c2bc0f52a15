"""Reference for step 10, put in place of the submission's ``step_10`` when a
later step is graded, so that step is graded on its own.

``GPT2Model`` is assembled from trusted parts only: ``torch.nn.Embedding``
for ``wte`` and ``wpe``, the grader's reference ``GPT2Block`` (step 09) in
``h``, and ``torch.nn.LayerNorm`` for ``ln_f``; its forward follows Hugging
Face's ``GPT2Model`` (positions ``0 … T-1``, blocks in order, final norm)
without cache, masks or dropout. State-dict keys are Hugging Face's after the
``Conv1D`` transpose: ``wte.weight``, ``wpe.weight``, ``h.0.ln_1.weight``, …,
``ln_f.bias``.
"""

import torch
from torch import nn

from grading.reference.step_09 import GPT2Block


class GPT2Model(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.h = nn.ModuleList(GPT2Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        position_ids = torch.arange(input_ids.shape[-1], device=input_ids.device).unsqueeze(0)
        hidden_states = self.wte(input_ids) + self.wpe(position_ids)
        for block in self.h:
            hidden_states = block(hidden_states)
        return self.ln_f(hidden_states)
