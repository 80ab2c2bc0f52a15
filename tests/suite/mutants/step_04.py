"""Plausible mistakes in step 04 (the feed-forward network)."""

from tests.suite.mutation import Mutant

GELU = 'F.gelu(hidden_states, approximate="tanh")'

MUTANTS = [
    Mutant("exact erf GELU instead of the tanh approximation", GELU, "F.gelu(hidden_states)"),
    Mutant("ReLU instead of GELU", GELU, "F.relu(hidden_states)"),
    Mutant("no activation", GELU, "hidden_states"),
    Mutant("sigmoid approximation of GELU", GELU, "hidden_states * F.sigmoid(1.702 * hidden_states)"),
    Mutant(
        "c_fc without bias",
        "nn.Linear(config.n_embd, intermediate_size)",
        "nn.Linear(config.n_embd, intermediate_size, bias=False)",
    ),
    Mutant(
        "c_fc and c_proj applied in the wrong order",
        "hidden_states = self.c_fc(hidden_states)  # (B, T, intermediate_size)\n"
        f"        hidden_states = {GELU}  # (B, T, intermediate_size)\n"
        "        hidden_states = self.c_proj(hidden_states)  # (B, T, n_embd)",
        "hidden_states = self.c_proj(hidden_states)\n"
        f"        hidden_states = {GELU}\n"
        "        hidden_states = self.c_fc(hidden_states)",
    ),
    Mutant(
        "width from config.n_inner instead of intermediate_size",
        "self.c_fc = nn.Linear(config.n_embd, intermediate_size)  # n_embd -> intermediate_size\n"
        "        self.c_proj = nn.Linear(intermediate_size, config.n_embd)",
        "self.c_fc = nn.Linear(config.n_embd, config.n_inner)\n"
        "        self.c_proj = nn.Linear(config.n_inner, config.n_embd)",
    ),
    Mutant(
        "GELU after c_proj too",
        "hidden_states = self.c_proj(hidden_states)  # (B, T, n_embd)",
        'hidden_states = F.gelu(self.c_proj(hidden_states), approximate="tanh")  # (B, T, n_embd)',
    ),
]

EQUIVALENT = [
    Mutant(
        "GELU as an nn.GELU module",
        GELU,
        'nn.GELU(approximate="tanh")(hidden_states)',
        reason="nn.GELU(approximate='tanh') computes F.gelu(x, approximate='tanh') and has no parameters",
    ),
]
