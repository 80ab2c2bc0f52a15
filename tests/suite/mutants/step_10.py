"""Plausible mistakes in step 10 (stacking the blocks into GPT2Model)."""

from tests.suite.mutation import Mutant

_ARANGE = "torch.arange(T, dtype=torch.long, device=input_ids.device)"
_EMBED = "x = self.wte(input_ids) + self.wpe(position_ids)"
_LOOP_END = "            x = block(x)  # (B, T, n_embd)\n        return self.ln_f(x)"
_BLOCKS = "nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])"

MUTANTS = [
    Mutant("positions start at 1", _ARANGE, "torch.arange(1, T + 1, dtype=torch.long, device=input_ids.device)"),
    Mutant("no position embeddings", _EMBED, "x = self.wte(input_ids)"),
    Mutant("final ln_f forgotten", "return self.ln_f(x)", "return x"),
    Mutant("ln_f after every block", _LOOP_END, "            x = self.ln_f(block(x))\n        return x"),
    Mutant("blocks not chained", _LOOP_END, "            y = block(x)\n        return self.ln_f(y)"),
    Mutant("only the first block runs", "for block in self.h:", "for block in self.h[:1]:"),
    Mutant("blocks run in reverse order", "for block in self.h:", "for block in reversed(self.h):"),
    Mutant("token embeddings scaled by sqrt(n_embd)", _EMBED, "x = self.wte(input_ids) * self.config.n_embd**0.5 + self.wpe(position_ids)"),
    Mutant("positions looked up with the token ids", _EMBED, "x = self.wte(input_ids) + self.wpe(input_ids)"),
    Mutant("wpe sized by vocab_size", "nn.Embedding(config.n_positions, config.n_embd)", "nn.Embedding(config.vocab_size, config.n_embd)"),
    Mutant("twelve blocks hard-coded", "range(config.n_layer)", "range(12)"),
    Mutant("blocks kept in a plain list", _BLOCKS, "[GPT2Block(config) for _ in range(config.n_layer)]"),
    Mutant("ln_f eps not passed", "LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)", "LayerNorm(config.n_embd)"),
]

EQUIVALENT = [
    Mutant(
        "position ids with a batch dimension",
        _ARANGE,
        "torch.arange(T, device=input_ids.device).unsqueeze(0)",
        reason="wpe of a (1, T) tensor is (1, T, n_embd), which broadcasts over the batch like (T, n_embd)",
    ),
    Mutant(
        "no length assert",
        'assert T <= self.config.n_positions, f"sequence of {T} tokens, but n_positions is {self.config.n_positions}"',
        "pass",
        reason="the assert only turns an index error for T > n_positions into a clearer one; the checks stay within n_positions",
    ),
    Mutant(
        "blocks applied with nn.Sequential-style indexing",
        "for block in self.h:\n            x = block(x)",
        "for i in range(len(self.h)):\n            x = self.h[i](x)",
        reason="iterating over an nn.ModuleList and indexing it visit the same blocks in the same order",
    ),
]
