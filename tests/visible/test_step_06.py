"""Visible checks for step 06: run them with `python -m grading check 6`."""

import pytest
import torch

from grading.engine.checks import assert_close, check, expect, fail
from grading.engine.probes import missing_table, table_outputs, table_structure

CONFIG = {"vocab_size": 11, "n_positions": 8, "n_embd": 6, "n_layer": 1, "n_head": 2, "n_inner": 24}
P, E = CONFIG["n_positions"], CONFIG["n_embd"]

# Row i of this table is (10·i, 10·i + 1, …): easy to recognise in a message.
KNOWN_TABLE = 10.0 * torch.arange(P).view(P, 1) + torch.arange(E)
KNOWN_POSITIONS = torch.tensor([[2, 3, 4]])  # three tokens that follow two earlier ones
SHAPE_CASES = {"positions of shape (5,)": torch.arange(5), "positions of shape (2, 5)": torch.arange(5).repeat(2, 1)}


# -- probes: they run in the worker, `step` is the submission's step_06 ------------


def position_structure(step, config_kwargs):
    """What GPT2PositionEmbeddings(config) holds, as plain data."""
    return table_structure(step, "GPT2PositionEmbeddings", "wpe", config_kwargs)


def position_outputs(step, config_kwargs, weights, inputs, upstream=None):
    """GPT2PositionEmbeddings's outputs (and wpe.weight's gradients) for each case."""
    return table_outputs(step, "GPT2PositionEmbeddings", "wpe", config_kwargs, weights, inputs, upstream)


def _shape_only(value):
    """Zeros of the same shape and dtype, so that a comparison checks only those."""
    return torch.zeros_like(value) if isinstance(value, torch.Tensor) else value


# -- checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure(student):
    return student.call(position_structure, CONFIG)


@pytest.fixture(scope="module")
def outputs(student):
    weight = torch.randn(P, E, generator=torch.Generator().manual_seed(0))
    inputs = [KNOWN_POSITIONS, *SHAPE_CASES.values()]
    return student.call(position_outputs, [CONFIG] * 3, [KNOWN_TABLE, weight, weight], inputs)


def _outputs(result):
    if "missing" in result:
        fail(result["missing"])
    return result["outputs"]


@check(
    "GPT2PositionEmbeddings holds the position table wpe, an nn.Embedding",
    hint="In __init__, after super().__init__(), set self.wpe = nn.Embedding(config.n_positions, config.n_embd).",
)
def test_has_wpe(structure):
    expect(structure["exists"], "step_06.py does not define a class named GPT2PositionEmbeddings")
    expect(structure["is_module"], "GPT2PositionEmbeddings is not an nn.Module: it should subclass nn.Module")
    expect(structure["wpe"] is not None, "GPT2PositionEmbeddings has no attribute wpe yet (or it is None)")
    expect(structure["wpe_is_embedding"], f"wpe is a {structure['wpe']}, but it should be an nn.Embedding")


@check(
    "wpe.weight has shape (n_positions, n_embd) and is its only parameter",
    hint="One row per position the model can see (n_positions), not per token in the vocabulary.",
)
def test_parameter_shapes(structure):
    expect(structure["exists"], "step_06.py does not define a class named GPT2PositionEmbeddings")
    params = structure["parameters"]
    expect("wpe.weight" in params, missing_table("GPT2PositionEmbeddings", "wpe", params))
    shape = tuple(params["wpe.weight"][0])
    expect(
        shape == (P, E),
        f"with n_positions={P} and n_embd={E}, wpe.weight has shape {shape} but ({P}, {E}) was expected",
    )
    expect(params["wpe.weight"][1], "wpe.weight does not require gradients, so GPT-2 could never learn it")
    extra = sorted(set(params) - {"wpe.weight"})
    expect(not extra, f"GPT2PositionEmbeddings has parameters besides wpe.weight: {extra}; GPT-2's weights have none")


@pytest.mark.parametrize("case", list(SHAPE_CASES))
@check(
    "forward returns (..., n_embd) float32 vectors for {case}",
    hint="Call self.wpe(position_ids): it keeps the shape of position_ids and adds n_embd at the end.",
)
def test_output_shape(outputs, case):
    index = 1 + list(SHAPE_CASES).index(case)
    assert_close(  # shape and dtype only
        _shape_only(_outputs(outputs)[index]),
        torch.zeros(*SHAPE_CASES[case].shape, E),
        what=f"GPT2PositionEmbeddings' output for {case}",
        hint_shape="the output should be position_ids' shape followed by n_embd",
    )


@check(
    "positions look up their own rows of wpe",
    hint="Position i gets row i of the table: look up the ids you are given, which need not start at 0.",
)
def test_known_answer(outputs):
    assert_close(
        _outputs(outputs)[0],
        KNOWN_TABLE[KNOWN_POSITIONS],
        what="GPT2PositionEmbeddings' output for position_ids [[2, 3, 4]] (row i of wpe is 10·i, 10·i + 1, …)",
    )
