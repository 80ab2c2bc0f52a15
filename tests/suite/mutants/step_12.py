"""Plausible mistakes in step 12 (text generation)."""

from tests.suite.mutation import Mutant

MUTANTS = [
    Mutant("greedy argmax over the batch dimension", "torch.argmax(logits, dim=-1)", "torch.argmax(logits, dim=0)"),
    Mutant("first position used, not the last", "logits = logits[:, -1, :]", "logits = logits[:, 0, :]"),
    Mutant("temperature multiplied", "logits = logits / temperature", "logits = logits * temperature"),
    Mutant("temperature ignored", "logits = logits / temperature", "logits = logits"),
    Mutant("top-k keeps k + 1 tokens", "min(top_k, logits.size(-1))", "min(top_k + 1, logits.size(-1))"),
    Mutant("top-k keeps k - 1 tokens (<= in the mask)", "logits < kth_largest", "logits <= kth_largest"),
    Mutant(
        "top-k keeps the smallest logits",
        "torch.topk(logits, min(top_k, logits.size(-1)), dim=-1)",
        "torch.topk(logits, min(top_k, logits.size(-1)), dim=-1, largest=False)",
    ),
    Mutant("top-k masks with 0 instead of -inf", 'float("-inf"))', "0.0)"),
    Mutant("top-k ignored", "    if top_k is not None:\n", "    if False:\n"),
    Mutant(
        "sampling from the logits instead of the probabilities",
        "torch.multinomial(probs, num_samples=1)",
        "torch.multinomial(logits.clamp(min=0), num_samples=1)",
    ),
    Mutant("softmax over the batch dimension", "probs = F.softmax(logits, dim=-1)", "probs = F.softmax(logits, dim=0)"),
    Mutant("always greedy", "    if not do_sample:\n", "    if True:\n"),
    Mutant(
        "prompt dropped from the output",
        "    return input_ids  # (B, T + max_new_tokens)",
        "    return input_ids[:, -max_new_tokens:]  # (B, T + max_new_tokens)",
    ),
    Mutant(
        "the model only ever sees the prompt",
        "next_token = generate_next_token(model, input_ids, temperature, do_sample, top_k)",
        "next_token = generate_next_token(model, input_ids[:, : input_ids.size(1) - _], temperature, do_sample, top_k)",
    ),
    Mutant(
        "settings not passed on (always default sampling)",
        "next_token = generate_next_token(model, input_ids, temperature, do_sample, top_k)",
        "next_token = generate_next_token(model, input_ids)",
    ),
]

EQUIVALENT = [
    Mutant(
        "temperature applied after the top-k mask",
        """    logits = logits / temperature  # < 1 sharpens, > 1 flattens the distribution
    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, [-1]]  # (B, 1)
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))  # (B, vocab_size)
""",
        """    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, [-1]]  # (B, 1)
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))  # (B, vocab_size)
    logits = logits / temperature
""",
        reason="dividing by a positive temperature keeps the order of the logits, so the same tokens survive top-k",
    ),
    Mutant(
        "greedy through softmax first",
        "return torch.argmax(logits, dim=-1)",
        "return torch.argmax(F.softmax(logits, dim=-1), dim=-1)",
        reason="softmax is monotonic, so the argmax is the same token",
    ),
]
