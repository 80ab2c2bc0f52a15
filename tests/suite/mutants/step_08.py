"""Plausible mistakes in step 08 (residual connections)."""

from tests.suite.mutation import Mutant

_ADD = "return input_tensor + sublayer_output"
_FORWARD = "return apply_residual_connection(x, sublayer_output)"

MUTANTS = [
    Mutant("in-place add", _ADD, "input_tensor += sublayer_output\n    return input_tensor"),
    Mutant("sublayer output only, no residual", _ADD, "return sublayer_output"),
    Mutant("subtracts instead of adding", _ADD, "return input_tensor - sublayer_output"),
    Mutant("multiplies instead of adding", _ADD, "return input_tensor * sublayer_output"),
    Mutant("averages the two paths", _ADD, "return (input_tensor + sublayer_output) / 2"),
    Mutant("residual path detached", _ADD, "return input_tensor.detach() + sublayer_output"),
    Mutant("post-norm: ln applied to the sum", _FORWARD, "return self.ln(apply_residual_connection(x, sublayer_output))"),
    Mutant("forward normalizes the residual too", _FORWARD, "return apply_residual_connection(self.ln(x), sublayer_output)"),
    Mutant("eps not passed to LayerNorm", "LayerNorm(dim, eps=eps)", "LayerNorm(dim)"),
    Mutant("ln is a plain nn.LayerNorm without eps", "LayerNorm(dim, eps=eps)", "nn.LayerNorm(dim)"),
]

EQUIVALENT = [
    Mutant(
        "sum written with torch.add",
        _ADD,
        "return __import__('torch').add(input_tensor, sublayer_output)",
        reason="torch.add(a, b) is a + b: a new tensor, same dtype, same gradients",
    ),
    Mutant(
        "forward adds directly",
        _FORWARD,
        "return x + sublayer_output",
        reason="ResidualBlock.forward may do the addition itself instead of calling apply_residual_connection",
    ),
]
