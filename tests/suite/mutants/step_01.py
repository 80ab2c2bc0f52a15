"""Plausible mistakes in step 01 (the configuration)."""

from tests.suite.mutation import Mutant

MUTANTS = [
    Mutant("no dataclass decorator", "@dataclass\nclass", "class"),
    Mutant("n_inner left at None", "n_inner: int = 3072", "n_inner: int = None"),
    Mutant("n_inner equal to n_embd", "n_inner: int = 3072", "n_inner: int = 768"),
    Mutant("epsilon 1e-6", "layer_norm_epsilon: float = 1e-5", "layer_norm_epsilon: float = 1e-6"),
    Mutant("vocabulary without the end-of-text token", "vocab_size: int = 50257", "vocab_size: int = 50256"),
    Mutant("epsilon typed as int", "layer_norm_epsilon: float", "layer_norm_epsilon: int"),
    Mutant("context of 2048", "n_positions: int = 1024", "n_positions: int = 2048"),
]

EQUIVALENT = []
