"""Step 05: token embeddings.

Build ``GPT2Embeddings``: it turns token ids (whole numbers) into vectors the
rest of the model can compute with, by looking each id up in a learned table
called ``wte`` (word token embeddings). It is the ``wte`` of Hugging Face's
``GPT2Model``, so the pretrained table will load into yours.

Read assignments/step_05.md first. Check your work with:

    python -m grading check 5
"""

import torch.nn as nn

from step_01 import GPT2Config


class GPT2Embeddings(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        # TODO 1: create the token embedding table `self.wte`, one row of
        # config.n_embd numbers for each of the config.vocab_size tokens.
        # Hint: nn.Embedding(num_embeddings, embedding_dim) holds exactly such a table
        # as its `weight`, shape (vocab_size, n_embd).
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html
        self.wte = None

    def forward(self, input_ids):
        # input_ids: (B, T) integer token ids
        # TODO 2: look up each token id in `self.wte` and return the vectors.
        # Hint: calling the nn.Embedding on the ids does the lookup; the result is (B, T, n_embd).
        # Docs: https://pytorch.org/docs/stable/generated/torch.nn.functional.embedding.html
        raise NotImplementedError("GPT2Embeddings.forward: TODO 2, see assignments/step_05.md")
