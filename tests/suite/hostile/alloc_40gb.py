# Hostile: GPT2Embeddings.forward asks for 40 GB.
import torch as _torch


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        big = _torch.ones(40 * 2**30 // 4, dtype=_torch.float32)
        return big.sum() + super().forward(input_ids)
