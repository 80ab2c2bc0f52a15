"""Step 12: text generation (a correct look-alike: inverse transform sampling).

Autoregressive decoding as in ``solutions/step_12.py``, but the draw is
written out: one uniform number per row, scaled to the row's total, and the
first token whose cumulative probability passes it (``torch.searchsorted``).
Masked tokens add nothing to the cumulative sum, so they are never found.
Float64 keeps the sum's rounding out of the way. Same distribution as Hugging
Face's ``generate``; not its token stream.
"""

import torch
import torch.nn.functional as F


@torch.no_grad()
def generate_next_token(model, input_ids, temperature=1.0, do_sample=True, top_k=None):
    logits = model(input_ids)  # (B, T, vocab_size)
    logits = logits[:, -1, :]  # (B, vocab_size): the last position predicts the next token
    if not do_sample:
        return torch.argmax(logits, dim=-1)  # (B,)
    logits = logits / temperature  # < 1 sharpens, > 1 flattens the distribution
    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, [-1]]  # (B, 1)
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))  # (B, vocab_size)
    probs = F.softmax(logits.double(), dim=-1)  # (B, vocab_size), each row sums to 1
    cdf = probs.cumsum(dim=-1)  # (B, vocab_size), nondecreasing, ends at ~1
    u = torch.rand(cdf.size(0), 1, dtype=cdf.dtype) * cdf[:, -1:]  # (B, 1), uniform in [0, total)
    return torch.searchsorted(cdf, u, right=True).squeeze(-1)  # (B, 1) -> (B,): first cdf > u


@torch.no_grad()
def generate_tokens(model, input_ids, max_new_tokens=10, temperature=1.0, do_sample=True, top_k=None):
    for _ in range(max_new_tokens):
        next_token = generate_next_token(model, input_ids, temperature, do_sample, top_k)  # (B,)
        input_ids = torch.cat([input_ids, next_token[:, None]], dim=1)  # (B, T) -> (B, T + 1)
    return input_ids  # (B, T + max_new_tokens): the prompt, then the new tokens
