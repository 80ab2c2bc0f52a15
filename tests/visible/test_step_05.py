"""Visible checks for step 05: run them with `python -m grading check 5`."""

import pytest
import torch

from grading.engine.checks import assert_close, check, expect, fail
from grading.engine.probes import missing_table, table_outputs, table_structure

CONFIG = {"vocab_size": 11, "n_positions": 8, "n_embd": 6, "n_layer": 1, "n_head": 2, "n_inner": 24}
V, E = CONFIG["vocab_size"], CONFIG["n_embd"]

# Row i of this table is (10·i, 10·i + 1, …): easy to recognise in a message.
KNOWN_TABLE = 10.0 * torch.arange(V).view(V, 1) + torch.arange(E)
KNOWN_IDS = torch.tensor([[2, 0, 10]])
SHAPE_IDS = torch.randint(0, V, (2, 5), generator=torch.Generator().manual_seed(5))


# -- probes: they run in the worker, `step` is the submission's step_05 ------------


def embedding_structure(step, config_kwargs):
    """What GPT2Embeddings(config) holds, as plain data."""
    return table_structure(step, "GPT2Embeddings", "wte", config_kwargs)


def embedding_outputs(step, config_kwargs, weights, inputs, upstream=None):
    """GPT2Embeddings's outputs (and wte.weight's gradients) for each case."""
    return table_outputs(step, "GPT2Embeddings", "wte", config_kwargs, weights, inputs, upstream)


def _shape_only(value):
    """Zeros of the same shape and dtype, so that a comparison checks only those."""
    return torch.zeros_like(value) if isinstance(value, torch.Tensor) else value


# -- checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure(student):
    return student.call(embedding_structure, CONFIG)


@pytest.fixture(scope="module")
def outputs(student):
    weight = torch.randn(V, E, generator=torch.Generator().manual_seed(0))
    return student.call(embedding_outputs, [CONFIG, CONFIG], [KNOWN_TABLE, weight], [KNOWN_IDS, SHAPE_IDS])


def _outputs(result):
    if "missing" in result:
        fail(result["missing"])
    return result["outputs"]


@check(
    "GPT2Embeddings holds the token table wte, an nn.Embedding",
    hint="In __init__, after super().__init__(), set self.wte = nn.Embedding(config.vocab_size, config.n_embd).",
)
def test_has_wte(structure):
    expect(structure["exists"], "step_05.py does not define a class named GPT2Embeddings")
    expect(structure["is_module"], "GPT2Embeddings is not an nn.Module: it should subclass nn.Module")
    expect(structure["wte"] is not None, "GPT2Embeddings has no attribute wte yet (or it is None)")
    expect(structure["wte_is_embedding"], f"wte is a {structure['wte']}, but it should be an nn.Embedding")


@check(
    "wte.weight has shape (vocab_size, n_embd) and is its only parameter",
    hint="One row per token, one column per embedding dimension: nn.Embedding(num_embeddings, embedding_dim).",
)
def test_parameter_shapes(structure):
    expect(structure["exists"], "step_05.py does not define a class named GPT2Embeddings")
    params = structure["parameters"]
    expect("wte.weight" in params, missing_table("GPT2Embeddings", "wte", params))
    shape = tuple(params["wte.weight"][0])
    expect(
        shape == (V, E),
        f"with vocab_size={V} and n_embd={E}, wte.weight has shape {shape} but ({V}, {E}) was expected",
    )
    expect(params["wte.weight"][1], "wte.weight does not require gradients, so GPT-2 could never learn it")
    extra = sorted(set(params) - {"wte.weight"})
    expect(not extra, f"GPT2Embeddings has parameters besides wte.weight: {extra}; GPT-2's weights have none")


@check(
    "forward returns (B, T, n_embd) float32 vectors",
    hint="Call self.wte(input_ids) and return the result: it adds the n_embd dimension at the end.",
)
def test_output_shape(outputs):
    assert_close(  # shape and dtype only
        _shape_only(_outputs(outputs)[1]),
        torch.zeros(2, 5, E),
        what="GPT2Embeddings' output for input_ids of shape (2, 5)",
        hint_shape="the output should be (batch, tokens, n_embd)",
    )


@check(
    "token ids look up their own rows of wte",
    hint="Token i gets row i of the table: no offset, no scaling, nothing added.",
)
def test_known_answer(outputs):
    assert_close(
        _outputs(outputs)[0],
        KNOWN_TABLE[KNOWN_IDS],
        what="GPT2Embeddings' output for input_ids [[2, 0, 10]] (row i of wte is 10·i, 10·i + 1, …)",
    )
