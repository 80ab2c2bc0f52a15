"""Step 09 with the MLP's width from step 01's helper."""

from torch import nn

from step_01 import GPT2Config, n_inner_of
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(n_inner_of(config), config)

    def forward(self, hidden_states):
        x = hidden_states + self.attn(self.ln_1(hidden_states))  # (B, T, n_embd)
        return x + self.mlp(self.ln_2(x))  # (B, T, n_embd)
