"""Reference for step 04, put in place of the submission's ``step_04`` when a
later step is graded, so that step is graded on its own: Hugging Face's
``GPT2MLP`` with its two ``Conv1D`` layers replaced by ``nn.Linear`` (the
course's API, state-dict keys ``c_fc.weight``, ``c_fc.bias``,
``c_proj.weight``, ``c_proj.bias``) and dropout off.

Importing ``transformers``' GPT-2 modelling code takes seconds, and every
worker of a later step imports this module, so ``GPT2MLP`` is built on first
use (``from step_04 import GPT2MLP``), not at import.
"""

from functools import cache


@cache
def _build():
    from torch import nn
    from transformers.models.gpt2.modeling_gpt2 import GPT2MLP as HFGPT2MLP

    class GPT2MLP(HFGPT2MLP):
        def __init__(self, intermediate_size, config):
            super().__init__(intermediate_size, hf_config(config.n_embd))
            self.c_fc = nn.Linear(config.n_embd, intermediate_size)
            self.c_proj = nn.Linear(intermediate_size, config.n_embd)

    GPT2MLP.__module__ = __name__
    GPT2MLP.__qualname__ = "GPT2MLP"
    return GPT2MLP


@cache
def hf_config(n_embd):
    """One transformers configuration for each width, shared by the modules
    built with it (making one costs more than the module)."""
    from transformers import GPT2Config as HFConfig

    return HFConfig(n_embd=n_embd, activation_function="gelu_new", resid_pdrop=0.0)


def __getattr__(name):
    if name == "GPT2MLP":
        return _build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
