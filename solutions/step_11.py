"""Step 11: the language model head.

``GPT2LMHeadModel`` is Hugging Face's ``GPT2LMHeadModel``: step 10's
``GPT2Model`` (``transformer``) followed by ``lm_head``, a linear layer without
bias that turns each hidden vector into one score (a logit) per vocabulary
token. Its weight *is* the token embedding matrix ``transformer.wte.weight``
(weight tying), so GPT-2 reads and writes tokens with the same vectors, and
the state dict has Hugging Face's keys (``transformer.wte.weight``, …,
``lm_head.weight``).
"""

import torch.nn as nn

from step_01 import GPT2Config
from step_10 import GPT2Model


class GPT2LMHeadModel(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # weight (vocab_size, n_embd)
        # weight tying: one Parameter both embeds tokens (wte) and scores them (lm_head)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, input_ids):
        hidden_states = self.transformer(input_ids)  # (B, T) -> (B, T, n_embd), after ln_f
        logits = self.lm_head(hidden_states)  # (B, T, vocab_size)
        return logits
