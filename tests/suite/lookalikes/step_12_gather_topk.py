"""Step 12: text generation (a correct look-alike: top-k by gather).

Autoregressive decoding as in ``solutions/step_12.py``, but top-k sampling
draws among the k kept tokens only: softmax over the k largest logits,
``torch.multinomial`` picks an index into them, and ``gather`` maps it back
to a vocabulary id. Same distribution as Hugging Face's ``generate``; a
different use of the random numbers, so not its token stream.
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
        top_logits, top_ids = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1)  # (B, k) each
        probs = F.softmax(top_logits, dim=-1)  # (B, k): only the k kept tokens
        choice = torch.multinomial(probs, num_samples=1)  # (B, 1): an index into the k kept tokens
        return torch.gather(top_ids, -1, choice).squeeze(-1)  # (B, 1) vocabulary ids -> (B,)
    probs = F.softmax(logits, dim=-1)  # (B, vocab_size), each row sums to 1
    return torch.multinomial(probs, num_samples=1).squeeze(-1)  # (B, 1) -> (B,)


@torch.no_grad()
def generate_tokens(model, input_ids, max_new_tokens=10, temperature=1.0, do_sample=True, top_k=None):
    for _ in range(max_new_tokens):
        next_token = generate_next_token(model, input_ids, temperature, do_sample, top_k)  # (B,)
        input_ids = torch.cat([input_ids, next_token[:, None]], dim=1)  # (B, T) -> (B, T + 1)
    return input_ids  # (B, T + max_new_tokens): the prompt, then the new tokens
