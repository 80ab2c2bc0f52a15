"""Plausible mistakes in step 09 (the transformer block)."""

from tests.suite.mutation import Mutant

_ATTN = "x = x + self.attn(self.ln_1(x))"
_MLP = "x = x + self.mlp(self.ln_2(x))"
_LN = "LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)"
_BOTH = (
    "x = x + self.attn(self.ln_1(x))  # (B, T, n_embd): positions exchange information\n"
    "        x = x + self.mlp(self.ln_2(x))  # (B, T, n_embd): each position is processed on its own"
)

MUTANTS = [
    Mutant("post-norm block", _BOTH, "x = self.ln_1(x + self.attn(x))\n        x = self.ln_2(x + self.mlp(x))"),
    Mutant("post-norm attention only", _ATTN, "x = self.ln_1(x + self.attn(x))"),
    Mutant("no residual around attention", _ATTN, "x = self.attn(self.ln_1(x))"),
    Mutant("no residual around the MLP", _MLP, "x = self.mlp(self.ln_2(x))"),
    Mutant("residual taken after the norm", _ATTN, "x = self.ln_1(x) + self.attn(self.ln_1(x))"),
    Mutant("ln_1 used for the MLP too", _MLP, "x = x + self.mlp(self.ln_1(x))"),
    Mutant("MLP reads the block's input (parallel sublayers)", _MLP, "x = x + self.mlp(self.ln_2(hidden_states))"),
    Mutant("MLP before attention", _BOTH, "x = x + self.mlp(self.ln_2(x))\n        x = x + self.attn(self.ln_1(x))"),
    Mutant("in-place residual add", _ATTN, "x += self.attn(self.ln_1(x))"),
    Mutant("MLP width hard-coded to 4 * n_embd", "GPT2MLP(config.n_inner, config)", "GPT2MLP(4 * config.n_embd, config)"),
    Mutant("LayerNorm eps not passed", _LN, "LayerNorm(config.n_embd)", count=2),
    Mutant("one LayerNorm shared by both sublayers", f"self.ln_2 = {_LN}", "self.ln_2 = self.ln_1"),
]

EQUIVALENT = [
    Mutant(
        "sublayer output on the left of the sum",
        _ATTN,
        "x = self.attn(self.ln_1(x)) + x",
        reason="addition is commutative, elementwise and exact in floating point",
    ),
    Mutant(
        "no alias for hidden_states",
        "x = hidden_states  # (B, T, n_embd): the residual stream",
        "x = hidden_states.clone()",
        reason="a copy of the input only costs memory; the values are the same",
    ),
]
