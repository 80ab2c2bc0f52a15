"""Plausible mistakes in step 07 (multi-head attention)."""

from tests.suite.mutation import Mutant

SCORES = "att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)"
MASK = "att = att + causal_mask(T, dtype=att.dtype, device=att.device)"
SOFTMAX = "att = att.softmax(dim=-1)"
MERGE = "y = y.transpose(1, 2).contiguous().view(B, T, C)"

MUTANTS = [
    Mutant("no scaling", SCORES, "att = q @ k.transpose(-2, -1)"),
    Mutant("scaled by sqrt(n_embd)", "math.sqrt(hs)", "math.sqrt(C)"),
    Mutant("q and k swapped", "q, k, v = self.c_attn", "k, q, v = self.c_attn"),
    Mutant("k and v swapped", "q, k, v = self.c_attn", "q, v, k = self.c_attn"),
    Mutant(
        "heads split with view(B, nh, T, hs), no transpose",
        ".view(B, T, nh, hs).transpose(1, 2)",
        ".view(B, nh, T, hs)",
        count=3,
    ),
    Mutant("heads merged without transposing back", MERGE, "y = y.contiguous().view(B, T, C)"),
    Mutant("mask not applied", f"        {MASK}  # (B, nh, T, T): -inf where j > i\n", ""),
    Mutant(
        "mask applied with 0 instead of -inf",
        MASK,
        "att = att.masked_fill(causal_mask(T, device=att.device).isinf(), 0.0)",
    ),
    Mutant(
        "mask added after the softmax",
        f"{MASK}  # (B, nh, T, T): -inf where j > i\n        {SOFTMAX}",
        f"{SOFTMAX}  # (B, nh, T, T): -inf where j > i\n        {MASK}",
    ),
    Mutant("softmax over the queries (dim=-2)", SOFTMAX, "att = att.softmax(dim=-2)"),
    Mutant("no output projection", "return self.c_proj(y)", "return y"),
    Mutant(
        "mask stored as a persistent buffer",
        "self.c_proj = nn.Linear(config.n_embd, config.n_embd)",
        "self.c_proj = nn.Linear(config.n_embd, config.n_embd)\n"
        "        self.register_buffer('bias', causal_mask(config.n_positions))",
    ),
]

EQUIVALENT = [
    Mutant(
        "chunk instead of split",
        ".split(self.n_embd, dim=2)",
        ".chunk(3, dim=-1)",
        reason="three equal chunks of the last dim are the same q, k, v as splitting into pieces of n_embd",
    ),
    Mutant(
        "reshape instead of contiguous().view()",
        MERGE,
        "y = y.transpose(1, 2).reshape(B, T, C)",
        reason="reshape copies when it must, giving the same values as contiguous().view()",
    ),
    Mutant(
        "mask as a large negative number",
        MASK,
        "att = att.masked_fill(causal_mask(T, device=att.device).isinf(), -1e9)",
        reason="exp(-1e9 - max) underflows to exactly 0 in float32 and float64, like -inf",
    ),
]
