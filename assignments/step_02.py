"""Step 02: the causal mask.

Write ``causal_mask``: the table that tells attention which tokens each token
may look at. GPT-2 predicts the next token, so token ``i`` must never see the
tokens after it. The mask is added to the attention scores before the
softmax: ``0`` keeps a score, ``-inf`` removes it.

Read assignments/step_02.md first. Check your work with:

    python -m grading check 2
"""

import torch


def causal_mask(sequence_length, num_tokens=0, *, dtype=torch.float32, device=None):
    """Return a mask of shape ``(sequence_length, sequence_length + num_tokens)``:
    ``0`` where key ``j`` may be seen by query ``i`` (``j <= i + num_tokens``),
    ``-inf`` everywhere else.

    ``num_tokens`` is how many tokens came before this chunk; the keys are
    those ``num_tokens`` tokens followed by the ``sequence_length`` new ones.
    """
    # TODO 1: make a column of query positions 0 … sequence_length - 1, shape (T, 1),
    # and a row of key positions 0 … sequence_length + num_tokens - 1, shape (1, T + N).
    # Hint: torch.arange(n, device=device) counts from 0 to n - 1; .unsqueeze(1) / .unsqueeze(0) add the size-1 dim.
    # Docs: https://pytorch.org/docs/stable/generated/torch.arange.html

    # TODO 2: compare them to find the keys each query must NOT see, shape (T, T + N).
    # Hint: broadcasting a (T, 1) against a (1, T + N) gives (T, T + N); key j is in the future when j > i + num_tokens.
    # Docs: https://pytorch.org/docs/stable/notes/broadcasting.html

    # TODO 3: start from zeros of shape (T, T + N) with the requested dtype and device, and put -inf where
    # the key is in the future. Return the result.
    # Hint: use float("-inf"), not a large negative number like -1e9.
    # Docs: https://pytorch.org/docs/stable/generated/torch.Tensor.masked_fill.html
    raise NotImplementedError("causal_mask is not written yet: see assignments/step_02.md")
