"""Step 12: text generation (a correct look-alike: the Gumbel-max trick).

Autoregressive decoding as in ``solutions/step_12.py``, but the draw adds
independent Gumbel noise, -log(-log(U)) with U uniform, to the masked logits
and takes the argmax: that token is distributed as softmax(logits), with no
softmax computed. Same distribution as Hugging Face's ``generate``; not its
token stream.
"""

import torch


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
    gumbel = -torch.log(-torch.log(torch.rand_like(logits)))  # (B, vocab_size), standard Gumbel noise
    return torch.argmax(logits + gumbel, dim=-1)  # (B,): masked tokens stay at -inf


@torch.no_grad()
def generate_tokens(model, input_ids, max_new_tokens=10, temperature=1.0, do_sample=True, top_k=None):
    for _ in range(max_new_tokens):
        next_token = generate_next_token(model, input_ids, temperature, do_sample, top_k)  # (B,)
        input_ids = torch.cat([input_ids, next_token[:, None]], dim=1)  # (B, T) -> (B, T + 1)
    return input_ids  # (B, T + max_new_tokens): the prompt, then the new tokens
