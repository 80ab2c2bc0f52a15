"""Step 05: token embeddings.

Turns token ids into vectors with a learned lookup table, ``wte`` (word token
embeddings): row ``i`` of the table is the vector for token ``i``. This is the
``wte`` of Hugging Face's ``GPT2Model``, an ``nn.Embedding(vocab_size, n_embd)``.
"""

import torch.nn as nn

from step_01 import GPT2Config


class GPT2Embeddings(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # weight (vocab_size, n_embd)

    def forward(self, input_ids):
        # input_ids: (B, T) integer token ids in [0, vocab_size)
        return self.wte(input_ids)  # (B, T, n_embd)
