"""Plausible mistakes in step 02 (the causal mask)."""

from tests.suite.mutation import Mutant

MUTANTS = [
    Mutant("mask ignores num_tokens", "future = key > query + N", "future = key > query"),
    Mutant("off by one: a token cannot see itself", "future = key > query + N", "future = key >= query + N"),
    Mutant("query and key swapped (upper triangle allowed)", "future = key > query + N", "future = query > key + N"),
    Mutant(
        "1 for allowed and 0 for blocked instead of 0 and -inf",
        'return mask.masked_fill(future, float("-inf"))',
        "return (~future).to(dtype)",
    ),
    Mutant("large negative number instead of -inf", 'float("-inf")', "-1e9"),
    Mutant("torch.finfo(dtype).min instead of -inf", 'float("-inf")', "torch.finfo(dtype).min"),
    Mutant(
        "dtype ignored",
        "mask = torch.zeros(T, T + N, dtype=dtype, device=device)",
        "mask = torch.zeros(T, T + N, device=device)",
    ),
    Mutant("device ignored", ", device=device)", ")", count=3),
    Mutant("square mask without the earlier tokens' columns", "T + N", "T", count=2),
]

EQUIVALENT = []
