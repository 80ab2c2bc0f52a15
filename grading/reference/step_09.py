"""Reference for step 09, put in place of the submission's ``step_09`` when a
later step is graded, so that step is graded on its own.

``GPT2Block`` is assembled from trusted parts only: ``torch.nn.LayerNorm``
for ``ln_1`` and ``ln_2``, and the grader's references of step 07
(``attn``, Hugging Face's attention written in torch behind the course's
API) and step 04 (``mlp``). Its forward is Hugging Face's ``GPT2Block`` order of operations
(pre-norm, residual after each sublayer); its state-dict keys are the
course's (``ln_1.weight``, ``attn.c_attn.weight``, ``mlp.c_fc.bias``, …).
"""

from torch import nn

from grading.reference.step_04 import GPT2MLP
from grading.reference.step_07 import GPT2MultiHeadAttention


class GPT2Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config.n_inner, config)

    def forward(self, hidden_states):
        residual = hidden_states
        hidden_states = residual + self.attn(self.ln_1(hidden_states))
        residual = hidden_states
        return residual + self.mlp(self.ln_2(hidden_states))
