# Hostile: asks torch for two threads in the forked worker, then multiplies
# matrices (OpenMP after fork can deadlock), then answers honestly.
import torch as _torch


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        _torch.set_num_threads(2)
        x = _torch.randn(256, 256)
        for _ in range(10):
            x = (x @ x).tanh()
        return super().forward(input_ids)
