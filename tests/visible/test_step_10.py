"""Visible checks for step 10: run them with `python -m grading check 10`."""

import math

import pytest
import torch
import torch.nn.functional as F

from grading.engine.checks import assert_close, check, expect, fail
from tests.visible.test_step_09 import C_PROJ, block_shapes, random_block_state

CONFIG = {"vocab_size": 11, "n_positions": 8, "n_embd": 16, "n_layer": 2, "n_head": 2, "n_inner": 48}
V, P, C, L = CONFIG["vocab_size"], CONFIG["n_positions"], CONFIG["n_embd"], CONFIG["n_layer"]


def model_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Every entry of Hugging Face's GPT2Model state dict (Conv1D transposed) and its shape."""
    shapes = {"wte.weight": (cfg["vocab_size"], cfg["n_embd"]), "wpe.weight": (cfg["n_positions"], cfg["n_embd"])}
    for i in range(cfg["n_layer"]):
        shapes |= block_shapes(cfg["n_embd"], cfg["n_inner"], prefix=f"h.{i}.")
    return shapes | {"ln_f.weight": (cfg["n_embd"],), "ln_f.bias": (cfg["n_embd"],)}


EXPECTED_SHAPES = model_shapes(CONFIG)


# -- probes: they run in the worker, `step` is the submission's step_10 ------------


def model_structure(step, config_kwargs):
    """What GPT2Model(config) holds, as plain data."""
    import torch
    from step_01 import GPT2Config

    from grading.engine.probes import saved_weights

    cls = getattr(step, "GPT2Model", None)
    if not isinstance(cls, type):
        return {"exists": False}
    model = cls(GPT2Config(**config_kwargs))
    if not isinstance(model, torch.nn.Module):
        return {"exists": True, "is_module": False}
    children = {name: getattr(model, name, None) for name in ("wte", "wpe", "h", "ln_f")}
    h = children["h"]
    try:
        blocks = [type(h[i]).__name__ for i in range(len(h))]
    except Exception:
        blocks = None
    return {
        "exists": True,
        "is_module": True,
        "children": {name: None if child is None else type(child).__name__ for name, child in children.items()},
        "embedding": {name: isinstance(children[name], torch.nn.Embedding) for name in ("wte", "wpe")},
        "ln_f_module": isinstance(children["ln_f"], torch.nn.Module),
        "h_registered": isinstance(h, torch.nn.Module),
        "blocks": blocks,
        "state_dict": saved_weights(model),
    }


def model_outputs(step, runs):
    """Runs the submission's GPT2Model as it builds it (on the earlier steps
    the worker gives it), once per run: a dict with ``config`` (GPT2Config
    keywords), ``state_dict`` and ``inputs`` (token ids). Returns ``{"outputs": [[out, ...], ...]}`` or
    ``{"missing": message}`` when the weights do not fit."""
    import torch
    from step_01 import GPT2Config

    from grading.engine.probes import load_weights

    outputs = []
    for run in runs:
        model = step.GPT2Model(GPT2Config(**run["config"]))
        problem = load_weights("GPT2Model", model, run["state_dict"])
        if problem:
            return {"missing": problem}
        model.eval()
        with torch.no_grad():
            outputs.append([model(ids) for ids in run["inputs"]])
    return {"outputs": outputs}


def random_model_state(cfg: dict, gen: torch.Generator, zero_blocks: bool = False) -> dict[str, torch.Tensor]:
    """Random weights for GPT2Model; with ``zero_blocks`` every block outputs zeros into the residual stream."""
    shapes = model_shapes(cfg)
    state = random_block_state(gen, shapes)
    state["ln_f.weight"] = 1 + 0.5 * torch.randn(cfg["n_embd"], generator=gen)
    for name in ("wte.weight", "wpe.weight"):
        state[name] = torch.randn(shapes[name], generator=gen)
    if zero_blocks:
        for i in range(cfg["n_layer"]):
            for name in C_PROJ:
                state[f"h.{i}.{name}"] = torch.zeros(shapes[f"h.{i}.{name}"])
    return state


# -- checks ----------------------------------------------------------------------

_gen = torch.Generator().manual_seed(10)
KNOWN_STATE = random_model_state(CONFIG, _gen, zero_blocks=True)
KNOWN_IDS = torch.tensor([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]])
SHAPE_STATE = random_model_state(CONFIG, _gen)
SHAPE_IDS = torch.randint(0, V, (3, P), generator=_gen)


def known_answer(positions=None, final_norm=True) -> torch.Tensor:
    """With every block adding zeros, GPT2Model is ln_f(wte[ids] + wpe[0 … T-1])."""
    T = KNOWN_IDS.shape[1]
    positions = torch.arange(T) if positions is None else positions
    x = KNOWN_STATE["wte.weight"][KNOWN_IDS]
    if positions is not False:
        x = x + KNOWN_STATE["wpe.weight"][positions]
    if not final_norm:
        return x
    return F.layer_norm(x, (C,), KNOWN_STATE["ln_f.weight"], KNOWN_STATE["ln_f.bias"], eps=1e-5)


KNOWN_MISTAKES = {
    "positions counted from 1 instead of 0": lambda: known_answer(positions=torch.arange(1, 6)),
    "no position embeddings added": lambda: known_answer(positions=False),
    "ln_f not applied at the end": lambda: known_answer(final_norm=False),
}


@pytest.fixture(scope="module")
def structure(student):
    return student.call(model_structure, CONFIG)


@pytest.fixture(scope="module")
def known(student):
    return student.call(model_outputs, [{"config": CONFIG, "state_dict": KNOWN_STATE, "inputs": [KNOWN_IDS]}])


@pytest.fixture(scope="module")
def full_length(student):  # its own call: T = n_positions is where wrong positions run off the end of wpe
    return student.call(model_outputs, [{"config": CONFIG, "state_dict": SHAPE_STATE, "inputs": [SHAPE_IDS]}])


def _output(result):
    if "missing" in result:
        fail(result["missing"])
    return result["outputs"][0][0]


@check(
    "GPT2Model has wte, wpe, h (n_layer blocks) and ln_f",
    hint="In __init__: wte and wpe are nn.Embedding, h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)]), "
    "ln_f is a LayerNorm(n_embd).",
)
def test_submodules(structure):
    expect(structure["exists"], "step_10.py does not define a class named GPT2Model")
    expect(structure["is_module"], "GPT2Model is not an nn.Module: it should subclass nn.Module")
    children = structure["children"]
    for name in ("wte", "wpe", "h", "ln_f"):
        expect(children[name] is not None, f"GPT2Model has no attribute {name} yet (or it is None)")
    for name in ("wte", "wpe"):
        expect(
            structure["embedding"][name],
            f"{name} is a {children[name]}, but it should be an nn.Embedding itself, so its weight is {name}.weight",
        )
    expect(structure["ln_f_module"], f"ln_f is a {children['ln_f']}, but it should be a LayerNorm module")
    expect(structure["blocks"] is not None, f"h is a {children['h']} that cannot be indexed like h[0]")
    expect(structure["h_registered"], f"h is a plain {children['h']}: use nn.ModuleList so the blocks' weights belong to the model")
    expect(len(structure["blocks"]) == L, f"with n_layer={L}, h holds {len(structure['blocks'])} blocks")


@check(
    "its weights have exactly the names and shapes of Hugging Face's GPT2Model",
    hint="The names are wte.weight, wpe.weight, h.0.ln_1.weight, …, ln_f.bias: keep wte and wpe as nn.Embedding "
    "directly on the model, and wpe has n_positions rows.",
)
def test_state_dict(structure):
    expect(structure["exists"], "step_10.py does not define a class named GPT2Model")
    expect(structure["is_module"], "GPT2Model is not an nn.Module: it should subclass nn.Module")
    have = {name: tuple(shape) for name, shape in structure["state_dict"].items()}
    missing = [name for name in EXPECTED_SHAPES if name not in have]
    expect(
        not missing,
        f"GPT2Model has no {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''} "
        f"(its state dict holds {', '.join(sorted(have)[:6]) or 'nothing'}{' …' if len(have) > 6 else ''})",
    )
    for name, shape in EXPECTED_SHAPES.items():
        expect(have[name] == shape, f"{name} has shape {have[name]} but {shape} was expected")
    extra = sorted(set(have) - set(EXPECTED_SHAPES))
    expect(not extra, f"GPT2Model's state dict also holds {extra}; Hugging Face's GPT2Model has no such weights")


@check(
    "forward returns (B, T, n_embd) float32 hidden states, up to T = n_positions",
    hint="Embeddings (B, T, n_embd), every block keeps that shape, and so does ln_f. wpe's rows are positions "
    "0 … n_positions-1: an IndexError here means a position past the end.",
)
def test_output_shape(full_length):
    assert_close(  # shape and dtype only: any finite values pass
        _output(full_length),
        torch.zeros(3, P, C),
        what=f"GPT2Model's output for input_ids of shape (3, {P})",
        hint_shape="the output should be (batch, tokens, n_embd)",
        atol=math.inf,
    )


@check(
    "known answer: with every block adding zeros, the output is ln_f(wte[ids] + wpe[0 … T-1])",
    hint="x = wte(input_ids) + wpe(positions) with positions 0, 1, …, T-1 (torch.arange), then the blocks, "
    "then ln_f.",
)
def test_known_answer(known):
    got = _output(known)
    expected = known_answer()
    try:
        assert_close(got, expected, what="GPT2Model's output when every block's c_proj is zero")
    except AssertionError as failure:
        for mistake, compute in KNOWN_MISTAKES.items():
            variant = compute()
            if isinstance(got, torch.Tensor) and got.shape == variant.shape and torch.allclose(got, variant, atol=1e-4):
                fail(f"{failure}. Your output matches a model with {mistake}")
        raise
