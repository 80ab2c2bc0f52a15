"""Step 01 in the style of transformers' ``configuration_gpt2.py``: the
configuration, with ``n_inner`` annotated ``Optional[int]`` (``None`` means
4 * n_embd), and the helpers every later step imports from here."""

from dataclasses import dataclass
from typing import Optional


@dataclass
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: Optional[int] = 3072  # None: 4 * n_embd, as transformers has it
    layer_norm_epsilon: float = 1e-5


def make_config(**overrides) -> GPT2Config:
    """GPT-2 small's configuration with some fields changed: ``make_config(n_layer=2)``."""
    return GPT2Config(**overrides)


def n_inner_of(config) -> int:
    """The MLP's hidden width: ``config.n_inner``, or 4 * n_embd when it is None."""
    return config.n_inner if config.n_inner is not None else 4 * config.n_embd
