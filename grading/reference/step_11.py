"""Reference for step 11, put in place of the submission's ``step_11`` when a
later step is graded (step 12), so that step is graded on its own.

``GPT2LMHeadModel`` is the grader's reference ``GPT2Model`` (step 10) under a
bias-free ``torch.nn.Linear`` whose weight is the embedding Parameter itself,
which is what Hugging Face's ``tie_weights`` does; the logits are
``torch.nn.functional.linear`` of the final hidden states with that shared
matrix. State-dict keys are Hugging Face's after the ``Conv1D`` transpose:
``transformer.wte.weight``, …, ``transformer.ln_f.bias``, ``lm_head.weight``.
"""

import torch.nn.functional as F
from torch import nn

from grading.reference.step_10 import GPT2Model


class GPT2LMHeadModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, input_ids):
        return F.linear(self.transformer(input_ids), self.transformer.wte.weight)
