"""Step 02: the causal mask.

Builds the additive mask that stops each token from attending to tokens after
it: the job of ``create_causal_mask`` in Hugging Face's ``GPT2Model`` (older
versions kept a ``torch.tril`` buffer named ``bias`` in ``GPT2Attention``).
Adding it to the attention scores before the softmax leaves the allowed
scores unchanged (``+ 0``) and turns the forbidden ones into ``-inf``, which
the softmax turns into a weight of exactly 0.

``num_tokens`` counts tokens already seen before this chunk (for example in a
key/value cache): the keys are then those ``num_tokens`` tokens followed by
the ``sequence_length`` new ones, and query ``i`` sits at position
``i + num_tokens``.
"""

import torch


def causal_mask(sequence_length, num_tokens=0, *, dtype=torch.float32, device=None):
    """Return a ``(sequence_length, sequence_length + num_tokens)`` mask:
    ``0`` where key ``j`` may be seen by query ``i`` (``j <= i + num_tokens``)
    and ``-inf`` where it may not."""
    T, N = sequence_length, num_tokens
    query = torch.arange(T, device=device).unsqueeze(1)  # (T, 1): row i is query i
    key = torch.arange(T + N, device=device).unsqueeze(0)  # (1, T+N): column j is key j
    future = key > query + N  # (T, T+N): True where key j comes after query i
    mask = torch.zeros(T, T + N, dtype=dtype, device=device)  # (T, T+N)
    return mask.masked_fill(future, float("-inf"))  # (T, T+N)
