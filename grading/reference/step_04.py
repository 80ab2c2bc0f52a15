"""Reference for step 04, put in place of the submission's ``step_04`` when a
later step is graded, so that step is graded on its own: Hugging Face's
``GPT2MLP`` written in torch behind the course's API (``nn.Linear`` layers
``c_fc`` and ``c_proj``, so the state-dict keys are ``c_fc.weight``,
``c_fc.bias``, ``c_proj.weight``, ``c_proj.bias``; no dropout).

It is plain torch, not a subclass of transformers' module, so a worker that
runs on it never imports transformers: a spawned worker of a later step
(Windows, macOS) would spend seconds on that import. The activation is
computed as transformers' ``gelu_new`` computes it, operation for operation:
the numbers are Hugging Face's up to float32 rounding (``Conv1D`` multiplies
by the transposed weight), and to the last bit where Hugging Face's module
has ``nn.Linear`` layers too (``tests/suite/test_engine.py``). The hidden
tests of step 04 compare with Hugging Face's own ``GPT2MLP``.
"""

import math

import torch
from torch import nn


class GPT2MLP(nn.Module):
    def __init__(self, intermediate_size, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, intermediate_size)
        self.c_proj = nn.Linear(intermediate_size, config.n_embd)
        self.act = gelu_new

    def forward(self, hidden_states):
        return self.c_proj(self.act(self.c_fc(hidden_states)))


def gelu_new(x):
    """GPT-2's tanh approximation of GELU, in the order of operations of
    transformers' ``NewGELUActivation`` (``F.gelu(x, approximate="tanh")``
    rounds differently in the last bit)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
