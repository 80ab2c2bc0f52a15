"""Step 01: the model configuration.

Build ``GPT2Config``: a dataclass holding the seven numbers that fix the
shape of GPT-2 small. Every later step reads its sizes from here, and the
values must match OpenAI's pretrained model, or its weights will not fit.

Read assignments/step_01.md first. Check your work with:

    python -m grading check 1
"""

# TODO 1: import the `dataclass` decorator from Python's `dataclasses` module.
# Hint: it is one line at the top of the file: `from dataclasses import ...`.
# Docs: https://docs.python.org/3/library/dataclasses.html


# TODO 2: turn GPT2Config into a dataclass by putting the decorator on the line
# just above `class GPT2Config:`.
# Hint: a dataclass writes __init__, __repr__ and __eq__ for you from the fields.
# Docs: https://docs.python.org/3/library/dataclasses.html#dataclasses.dataclass
class GPT2Config:
    # TODO 3: give each field its type and the value GPT-2 small uses.
    # Hint: the values come from Hugging Face's configuration: run
    #   python -c "from transformers import GPT2Config; print(GPT2Config())"
    # or read the model's config.json (https://huggingface.co/openai-community/gpt2/blob/main/config.json).
    # n_inner is null there; Hugging Face then uses 4 * n_embd.
    # Docs: https://huggingface.co/docs/transformers/model_doc/gpt2#transformers.GPT2Config
    vocab_size = None  # how many different tokens the model knows
    n_positions = None  # the longest sequence the model can read
    n_embd = None  # the width of every hidden vector
    n_layer = None  # how many transformer blocks are stacked
    n_head = None  # attention heads in each block
    n_inner = None  # hidden width of the feed-forward network
    layer_norm_epsilon = None  # the small number layer norm adds before the square root
