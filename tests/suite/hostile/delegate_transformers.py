# Hostile, for the instructor's eyes rather than the grade: the attention is
# transformers' own GPT2Attention, reached at run time through an import
# name assembled from pieces (no import statement names transformers),
# wrapped into the course's API (nn.Linear c_attn and c_proj, our config).
# It computes the right thing, so it earns full marks; the worker's audit
# flags where it came from.
import importlib as _importlib

import torch.nn as _nn

del GPT2MultiHeadAttention  # noqa: F821  (the solution's own, above)
_LIBRARY = "trans" + "formers"


def _build():
    hf = _importlib.import_module(_LIBRARY + ".models.gpt2.modeling_gpt2")
    settings = _importlib.import_module(_LIBRARY).GPT2Config

    class GPT2MultiHeadAttention(hf.GPT2Attention):
        def __init__(self, config):
            super().__init__(settings(n_embd=config.n_embd, n_head=config.n_head, n_positions=config.n_positions,
                                      attn_pdrop=0.0, resid_pdrop=0.0, attn_implementation="sdpa"))  # fmt: skip
            self.c_attn = _nn.Linear(config.n_embd, 3 * config.n_embd)
            self.c_proj = _nn.Linear(config.n_embd, config.n_embd)

        def forward(self, hidden_states):
            return super().forward(hidden_states)[0]

    return GPT2MultiHeadAttention


def __getattr__(name):
    if name == "GPT2MultiHeadAttention":
        return _build()
    raise AttributeError(name)
