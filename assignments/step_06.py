"""Step 06: position embeddings.

Build ``GPT2PositionEmbeddings``: attention on its own cannot tell which token
came first, so GPT-2 gives every position 0, 1, 2, … a learned vector of its
own, kept in a second table called ``wpe`` (word position embeddings). It is
the ``wpe`` of Hugging Face's ``GPT2Model``, so the pretrained table will load
into yours.

Read assignments/step_06.md first. Check your work with:

    python -m grading check 6
"""

import torch.nn as nn

from step_01 import GPT2Config


class GPT2PositionEmbeddings(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        # TODO 1: create the position embedding table `self.wpe`, one row of
        # config.n_embd numbers for each of the config.n_positions positions.
        # Hint: it is the same kind of table as wte in step 05, with a row per position
        # instead of a row per token.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html
        self.wpe = None

    def forward(self, position_ids):
        # position_ids: integer positions of any shape (...), e.g. torch.arange(T) for T tokens
        # TODO 2: look up each position in `self.wpe` and return the vectors, shape (..., n_embd).
        # Hint: look up the ids you were given; do not assume they start at 0 or have one dimension.
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.functional.embedding.html
        raise NotImplementedError("GPT2PositionEmbeddings.forward: TODO 2, see assignments/step_06.md")
