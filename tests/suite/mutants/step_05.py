"""Plausible mistakes in step 05 (token embeddings)."""

from tests.suite.mutation import Mutant

MUTANTS = [
    Mutant(
        "table transposed: (n_embd, vocab_size)",
        "nn.Embedding(config.vocab_size, config.n_embd)",
        "nn.Embedding(config.n_embd, config.vocab_size)",
    ),
    Mutant(
        "table one row short (forgot <|endoftext|>)",
        "nn.Embedding(config.vocab_size, config.n_embd)",
        "nn.Embedding(config.vocab_size - 1, config.n_embd)",
    ),
    Mutant("ids shifted by one", "return self.wte(input_ids)", "return self.wte(input_ids - 1)"),
    Mutant(
        "scaled by sqrt(n_embd) as in the original Transformer",
        "return self.wte(input_ids)",
        "return self.wte(input_ids) * self.wte.embedding_dim**0.5",
    ),
    Mutant(
        "output transposed to (B, n_embd, T)",
        "return self.wte(input_ids)",
        "return self.wte(input_ids).transpose(1, 2)",
    ),
    Mutant(
        "padding_idx=0 (token 0 never learns)",
        "nn.Embedding(config.vocab_size, config.n_embd)",
        "nn.Embedding(config.vocab_size, config.n_embd, padding_idx=0)",
    ),
    Mutant(
        "table frozen",
        "self.wte = nn.Embedding(config.vocab_size, config.n_embd)",
        "self.wte = nn.Embedding(config.vocab_size, config.n_embd)\n        self.wte.weight.requires_grad_(False)",
    ),
    Mutant("lookup detached from the table", "return self.wte(input_ids)", "return self.wte(input_ids).detach()"),
    Mutant(
        "wte is an nn.Linear",
        "nn.Embedding(config.vocab_size, config.n_embd)",
        "nn.Linear(config.vocab_size, config.n_embd)",
    ),
]

EQUIVALENT = [
    Mutant(
        "lookup by indexing the weight",
        "return self.wte(input_ids)",
        "return self.wte.weight[input_ids]",
        reason="indexing the table's rows is what nn.Embedding's forward does, gradients included",
    ),
]
