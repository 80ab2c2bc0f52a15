"""Plausible mistakes in step 06 (position embeddings)."""

from tests.suite.mutation import Mutant

MUTANTS = [
    Mutant(
        "one row per token instead of per position",
        "nn.Embedding(config.n_positions, config.n_embd)",
        "nn.Embedding(config.vocab_size, config.n_embd)",
    ),
    Mutant(
        "table one row short",
        "nn.Embedding(config.n_positions, config.n_embd)",
        "nn.Embedding(config.n_positions - 1, config.n_embd)",
    ),
    Mutant("positions offset by one", "return self.wpe(position_ids)", "return self.wpe(position_ids + 1)"),
    Mutant(
        "first rows sliced, position_ids ignored",
        "return self.wpe(position_ids)",
        "return self.wpe.weight[: position_ids.shape[-1]]",
    ),
    Mutant(
        "output transposed to (n_embd, ...)",
        "return self.wpe(position_ids)",
        "return self.wpe(position_ids).transpose(0, -1)",
    ),
    Mutant(
        "an extra batch dimension added",
        "return self.wpe(position_ids)",
        "return self.wpe(position_ids).unsqueeze(0)",
    ),
    Mutant(
        "table frozen",
        "self.wpe = nn.Embedding(config.n_positions, config.n_embd)",
        "self.wpe = nn.Embedding(config.n_positions, config.n_embd)\n        self.wpe.weight.requires_grad_(False)",
    ),
    Mutant(
        "padding_idx=0 (position 0 never learns)",
        "nn.Embedding(config.n_positions, config.n_embd)",
        "nn.Embedding(config.n_positions, config.n_embd, padding_idx=0)",
    ),
]

EQUIVALENT = [
    Mutant(
        "lookup by indexing the weight",
        "return self.wpe(position_ids)",
        "return self.wpe.weight[position_ids]",
        reason="indexing the table's rows is what nn.Embedding's forward does, for any shape of ids",
    ),
]
