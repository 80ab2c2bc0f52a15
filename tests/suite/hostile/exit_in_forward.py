# Hostile: GPT2Embeddings.forward ends its process with os._exit(3).
import os as _os


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        _os._exit(3)
