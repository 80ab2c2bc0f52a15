"""Step 09 whose forward walks (norm, sublayer) pairs bound once in
__init__: a plain list, so nn.Module registers each part only once."""

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
        self._mlp_fn = self.mlp.forward  # bound once
        self._sublayers = [(self.ln_1, self.attn), (self.ln_2, self._mlp_fn)]

    def forward(self, hidden_states):
        x = hidden_states
        for norm, sublayer in self._sublayers:
            x = x + sublayer(norm(x))  # (B, T, n_embd)
        return x
