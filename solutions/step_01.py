"""Step 01: the model configuration.

A dataclass holding the seven numbers that fix GPT-2 small's shape, the same
values as Hugging Face's ``GPT2Config()`` and OpenAI's ``config.json``, so
that the pretrained weights fit the model we build.
"""

from dataclasses import dataclass


@dataclass
class GPT2Config:
    vocab_size: int = 50257  # 50,000 BPE merges + 256 byte tokens + <|endoftext|>
    n_positions: int = 1024  # the longest context the model can see
    n_embd: int = 768  # width of every hidden vector
    n_layer: int = 12  # transformer blocks stacked
    n_head: int = 12  # attention heads per block (768 / 12 = 64 dims each)
    n_inner: int = 3072  # MLP hidden width, 4 * n_embd
    layer_norm_epsilon: float = 1e-5  # keeps layer norm from dividing by zero
