"""Step 09: the transformer block.

Builds ``GPT2Block``, Hugging Face's ``GPT2Block`` (without its cache and
cross-attention options): a pre-norm attention sublayer, then a pre-norm
feed-forward sublayer, each added back onto the residual stream. Attention
lets each position read from the positions before it; the MLP then works on
every position on its own.
"""

from torch import nn

from step_01 import GPT2Config
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config.n_inner, config)

    def forward(self, hidden_states):
        x = hidden_states  # (B, T, n_embd): the residual stream
        x = x + self.attn(self.ln_1(x))  # (B, T, n_embd): positions exchange information
        x = x + self.mlp(self.ln_2(x))  # (B, T, n_embd): each position is processed on its own
        return x
