"""Reference for step 07, put in place of the submission's ``step_07`` when a
later step is graded, so that step is graded on its own.

It is transformers' own ``GPT2Attention`` behind our API: its ``Conv1D``
layers are swapped for ``nn.Linear`` (so the state dict is exactly
``c_attn.weight``, ``c_attn.bias``, ``c_proj.weight``, ``c_proj.bias`` with
Linear's ``(out, in)`` weights), dropout is off, and the "sdpa" attention
implementation is causal by itself when no mask is given. ``forward`` returns
the attention output only.

Importing ``transformers``' GPT-2 modelling code takes seconds, and every
worker of a later step imports this module, so ``GPT2MultiHeadAttention`` is
built on first use (``from step_07 import GPT2MultiHeadAttention``), not at
import.
"""

from functools import cache


_SIZES = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "layer_norm_epsilon")


def hf_config(config):
    """A transformers configuration with our configuration's sizes: one for
    each set of sizes, shared by the modules built with it, as a transformers
    model shares one across its layers (making one costs more than the module)."""
    return _hf_config(tuple(getattr(config, name) for name in _SIZES))


@cache
def _hf_config(sizes: tuple):
    from transformers import GPT2Config as HFConfig

    fields = dict(zip(_SIZES, sizes))
    end_of_text = fields["vocab_size"] - 1
    return HFConfig(
        **fields,
        attn_pdrop=0.0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        attn_implementation="sdpa",
    )


@cache
def _build():
    from torch import nn
    from transformers.models.gpt2.modeling_gpt2 import GPT2Attention

    class GPT2MultiHeadAttention(GPT2Attention):
        def __init__(self, config):
            super().__init__(hf_config(config))
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
            self.c_proj = nn.Linear(config.n_embd, config.n_embd)

        def forward(self, hidden_states):
            return super().forward(hidden_states)[0]

    GPT2MultiHeadAttention.__module__ = __name__
    GPT2MultiHeadAttention.__qualname__ = "GPT2MultiHeadAttention"
    return GPT2MultiHeadAttention


def __getattr__(name):
    if name == "GPT2MultiHeadAttention":
        return _build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
