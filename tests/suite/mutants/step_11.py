"""Plausible mistakes in step 11 (the language model head)."""

from tests.suite.mutation import Mutant

MUTANTS = [
    Mutant("lm_head with a bias", "config.vocab_size, bias=False)", "config.vocab_size, bias=True)"),
    Mutant(
        "head left untied",
        "        self.lm_head.weight = self.transformer.wte.weight\n",
        "",
    ),
    Mutant(
        "tied through .data: shared memory, two Parameters",
        "self.lm_head.weight = self.transformer.wte.weight",
        "self.lm_head.weight.data = self.transformer.wte.weight.data",
    ),
    Mutant(
        "tied to a copy of the embeddings",
        "self.lm_head.weight = self.transformer.wte.weight",
        "self.lm_head.weight = nn.Parameter(self.transformer.wte.weight.clone())",
    ),
    Mutant("returns the hidden states, not logits", "        return logits\n", "        return hidden_states\n"),
    Mutant(
        "final layer norm applied a second time",
        "logits = self.lm_head(hidden_states)",
        "logits = self.lm_head(self.transformer.ln_f(hidden_states))",
    ),
    Mutant(
        "logits for the last position only (nanoGPT's inference shortcut)",
        "logits = self.lm_head(hidden_states)",
        "logits = self.lm_head(hidden_states[:, [-1], :])",
    ),
    Mutant("softmax applied to the logits", "        return logits\n", "        return logits.softmax(dim=-1)\n"),
    Mutant(
        "head declared the wrong way round (vocab_size -> n_embd)",
        "nn.Linear(config.n_embd, config.vocab_size, bias=False)",
        "nn.Linear(config.vocab_size, config.n_embd, bias=False)",
    ),
]

EQUIVALENT = [
    Mutant(
        "tied the other way round",
        "self.lm_head.weight = self.transformer.wte.weight",
        "self.transformer.wte.weight = self.lm_head.weight",
        reason="either assignment leaves one Parameter shared by wte and lm_head, and loading fills it",
    ),
    Mutant(
        "head computed with F.linear on the embedding matrix",
        "logits = self.lm_head(hidden_states)",
        "logits = nn.functional.linear(hidden_states, self.transformer.wte.weight)",
        reason="the tied lm_head computes exactly hidden_states @ wte.weight.T",
    ),
]
