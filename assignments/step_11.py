"""Step 11: the language model head.

Build ``GPT2LMHeadModel``: your ``GPT2Model`` from step 10 (``transformer``)
with one more layer on top, ``lm_head``, that turns every hidden vector into
one score (a logit) per token of the vocabulary. GPT-2 uses no new matrix for
it: ``lm_head`` shares its weight with the token embeddings
``transformer.wte`` (weight tying). The names match Hugging Face's
``GPT2LMHeadModel``, so OpenAI's pretrained weights load into yours and
``assignments/generate.py`` can make it write text.

Read assignments/step_11.md first. Check your work with:

    python -m grading check 11
"""

import torch.nn as nn

from step_01 import GPT2Config
from step_10 import GPT2Model


class GPT2LMHeadModel(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.config = config
        # TODO 1: build the transformer body, `self.transformer`.
        # Hint: it is your GPT2Model from step 10 (imported above), built from the same config.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Module.html
        self.transformer = None

        # TODO 2: build the head, `self.lm_head`, a linear layer from n_embd to vocab_size.
        # Hint: GPT-2's head has no bias; its weight then has shape (vocab_size, n_embd), like wte's.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
        self.lm_head = None

        # TODO 3: tie the head to the token embeddings, so both use ONE Parameter.
        # Hint: assign the embedding's weight Parameter itself to the head (not a copy, not .data).
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.parameter.Parameter.html

    def forward(self, input_ids):
        # input_ids: (B, T) token ids
        # TODO 4: run the transformer, then the head, and return the logits, (B, T, vocab_size).
        # Hint: the transformer's output already went through ln_f; apply nothing after lm_head.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.functional.linear.html
        raise NotImplementedError("GPT2LMHeadModel.forward: TODO 4, see assignments/step_11.md")
