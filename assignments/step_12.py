"""Step 12: text generation.

Write the loop that makes your model write: run it on the tokens so far, read
the logits at the last position, pick the next token, append it, repeat.
The pick is greedy (the highest logit) or a random draw: logits divided by a
``temperature``, cut to the ``top_k`` most likely tokens, turned into
probabilities with softmax, sampled with ``torch.multinomial``. Done in that
order, your samples match Hugging Face's ``generate`` for the same seed.

Read assignments/step_12.md first. Check your work with:

    python -m grading check 12

Then run the payoff: python assignments/generate.py "Once upon a time"
"""

import torch
import torch.nn.functional as F


@torch.no_grad()
def generate_next_token(model, input_ids, temperature=1.0, do_sample=True, top_k=None):
    """One next token for each row of ``input_ids`` (B, T): returns (B,) token ids."""
    # TODO 1: run the model and keep only the logits of the last position, (B, vocab_size).
    # Hint: model(input_ids) is (B, T, vocab_size); the last position predicts the next token.
    # Docs: https://pytorch.org/docs/stable/tensor_view.html

    # TODO 2: greedy decoding: if do_sample is False, return the id of the highest logit in each row.
    # Hint: reduce over the vocabulary dimension (the last one), so the result has shape (B,).
    # Docs: https://pytorch.org/docs/stable/generated/torch.argmax.html

    # TODO 3: temperature: divide the logits by temperature.
    # Hint: below 1 sharpens the distribution, above 1 flattens it; do it before top-k and softmax.
    # Docs: https://pytorch.org/docs/stable/generated/torch.div.html

    # TODO 4: top-k: if top_k is not None, keep the top_k largest logits of each row; set the rest to -inf.
    # Hint: torch.topk(...).values[:, [-1]] is the k-th largest per row, (B, 1); mask what is smaller.
    # Docs: https://pytorch.org/docs/stable/generated/torch.topk.html

    # TODO 5: turn the logits into probabilities and draw one token per row.
    # Hint: softmax over the last dimension, then torch.multinomial(probs, num_samples=1) is (B, 1).
    # Docs: https://pytorch.org/docs/stable/generated/torch.multinomial.html
    raise NotImplementedError("generate_next_token: TODOs 1-5, see assignments/step_12.md")


@torch.no_grad()
def generate_tokens(model, input_ids, max_new_tokens=10, temperature=1.0, do_sample=True, top_k=None):
    """Append ``max_new_tokens`` tokens to ``input_ids`` (B, T): returns (B, T + max_new_tokens)."""
    # TODO 6: repeat max_new_tokens times: get the next token with generate_next_token (same settings)
    # and append it as a new column; return the prompt followed by the new tokens.
    # Hint: the new token is (B,); make it (B, 1) and concatenate along dim=1.
    # Docs: https://pytorch.org/docs/stable/generated/torch.cat.html
    raise NotImplementedError("generate_tokens: TODO 6, see assignments/step_12.md")
