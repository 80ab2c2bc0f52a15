"""Plausible mistakes in step 03 (layer normalization)."""

from tests.suite.mutation import Mutant

MUTANTS = [
    Mutant("unbiased variance (divides by dim - 1)", "x.var(dim=-1, keepdim=True, unbiased=False)", "x.var(dim=-1, keepdim=True)"),
    Mutant("eps outside the square root", "torch.sqrt(var + self.eps)", "(torch.sqrt(var) + self.eps)"),
    Mutant("divides by the variance, not the standard deviation", "torch.sqrt(var + self.eps)", "(var + self.eps)"),
    Mutant("no bias added", "return x * self.weight + self.bias", "return x * self.weight"),
    Mutant("normalizes over the first dimension", "dim=-1", "dim=0", count=2),
    Mutant("mean not subtracted (RMS norm)", "x = (x - mean) /", "x = x /"),
    Mutant("eps argument ignored", "self.eps = eps", "self.eps = 1e-5"),
    Mutant("statistics without keepdim", "keepdim=True", "keepdim=False", count=2),
    Mutant("weight starts random", "nn.Parameter(torch.ones(dim))", "nn.Parameter(torch.randn(dim))"),
    Mutant("weight and bias are plain tensors, not parameters", "nn.Parameter(torch.ones(dim))", "torch.ones(dim)"),
    Mutant("mean taken from a detached copy", "mean = x.mean(dim=-1, keepdim=True)", "mean = x.detach().mean(dim=-1, keepdim=True)"),
]

EQUIVALENT = [
    Mutant(
        "biased variance spelled correction=0",
        "unbiased=False",
        "correction=0",
        reason="correction=0 is the newer name for unbiased=False: both divide by dim",
    ),
    Mutant(
        "multiplies by rsqrt",
        "x = (x - mean) / torch.sqrt(var + self.eps)",
        "x = (x - mean) * torch.rsqrt(var + self.eps)",
        reason="x * rsqrt(v) equals x / sqrt(v) up to float rounding, far inside the tolerance",
    ),
]
