# Not hostile by itself: a wrong GPT2Embeddings (zeros). Used with planted
# configuration files (conftest.py, pytest.ini, sitecustomize.py, a .pth) and
# PYTEST_ADDOPTS that would make every check pass if they took part.
import torch as _torch


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        return _torch.zeros_like(super().forward(input_ids))
