"""Hidden checks for step 11: a Hugging Face ``GPT2LMHeadModel`` state dict,
every parameter random, loads into the student's GPT2LMHeadModel after the
``Conv1D`` transpose, and the logits then match transformers' for several
configurations and shapes (B > 1, T = 1, the full context). The head must be
bias-free and tied to ``transformer.wte.weight`` (one Parameter, before and
after loading). The head is also checked on its own: its logits are the
hidden states ``self.transformer`` returns times the embedding matrix, however
forward reaches the transformer's parts (``self.transformer(ids)`` or
``self.transformer.wte``, ``.h``, ``.ln_f`` one by one).

The worker gives the submission the grader's reference steps 01–10, so
``self.transformer`` is a trusted GPT2Model; each check also earns its points
on the student's own steps 01–10 when those are all correct (see
``grading.engine.plugin``), which is where a head that uses its own step 10's
extras (``self.transformer.drop``) passes."""

import pytest
import torch

from grading.engine.checks import assert_close, check, describe, expect, fail, manual_seed, reference_fixture

CONFIGS = {
    "embd64-layers2-heads4": {
        "vocab_size": 97, "n_positions": 16, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": 256,
        "layer_norm_epsilon": 1e-5,
    },
    "embd32-layer1-heads2": {
        "vocab_size": 50, "n_positions": 8, "n_embd": 32, "n_layer": 1, "n_head": 2, "n_inner": 64,
        "layer_norm_epsilon": 1e-6,
    },
}  # fmt: skip
SHAPES = {
    "embd64-layers2-heads4": {"B2-T7": (2, 7), "B1-T1": (1, 1), "B3-T16": (3, 16)},
    "embd32-layer1-heads2": {"B2-T8": (2, 8), "B4-T1": (4, 1)},
}
CASES = [f"{name}-{shape}" for name, shapes in SHAPES.items() for shape in shapes]
HEAD_SHAPES = {"B2-T3": (2, 3), "B1-T1": (1, 1)}

# Hugging Face's Conv1D stores these weights as (in, out); nn.Linear wants (out, in).
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def to_linear_layout(hf_state: dict) -> dict:
    return {k: (v.t().contiguous() if k.endswith(CONV1D_WEIGHTS) else v.clone()) for k, v in hf_state.items()}


# -- probe: runs in the worker, `step` is the submission's step_11 ----------------


def load_and_run(step, config_kwargs, state_dict, inputs, head_inputs):
    """Build GPT2LMHeadModel(config), load ``state_dict`` (leniently: the
    model's own buffers may stay), and return the logits for each input; for
    each of ``head_inputs``, the logits next to what ``model.transformer``
    returns for the same ids; and facts about the head, as plain data."""
    import torch
    from step_01 import GPT2Config

    from grading.engine.probes import load_weights, weights_fit

    model = step.GPT2LMHeadModel(GPT2Config(**config_kwargs))
    facts = weights_fit(model, state_dict)  # as facts, for messages of this step's own
    if facts["no_parameters"] or facts["absent"] or facts["unfilled"] or facts["shapes"]:
        return facts
    load_weights("GPT2LMHeadModel", model, state_dict)
    head, wte = model.lm_head.weight, model.transformer.wte.weight
    facts["same_parameter"] = head is wte
    facts["same_storage"] = head.data_ptr() == wte.data_ptr()
    model.eval()
    with torch.no_grad():
        facts["logits"] = {name: model(ids) for name, ids in inputs.items()}
        facts["head"] = {name: {"logits": model(ids), "hidden": model.transformer(ids)} for name, ids in head_inputs.items()}
    return facts


# -- the reference -----------------------------------------------------------------


def hf_model(config_kwargs: dict, seed: int):
    """transformers' GPT2LMHeadModel, tiny, every parameter random."""
    from transformers import GPT2Config as HFConfig
    from transformers import GPT2LMHeadModel as HFGPT2LMHeadModel

    manual_seed(seed)
    config = HFConfig(
        **config_kwargs,
        activation_function="gelu_new",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=None, eos_token_id=None,
    )  # fmt: skip
    model = HFGPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # wte is lm_head: tied, randomized once
            torch.nn.init.normal_(p, std=0.5)
    return model


@reference_fixture
def reference():
    ref = {}
    for seed, (name, kwargs) in enumerate(CONFIGS.items()):
        model = hf_model(kwargs, 1100 + seed)
        gen = torch.Generator().manual_seed(1110 + seed)
        inputs = {shape: torch.randint(0, kwargs["vocab_size"], size, generator=gen) for shape, size in SHAPES[name].items()}
        head_inputs = {shape: torch.randint(0, kwargs["vocab_size"], size, generator=gen) for shape, size in HEAD_SHAPES.items()}
        with torch.no_grad():
            logits = {shape: model(ids).logits for shape, ids in inputs.items()}
        ref[name] = {
            "state_dict": to_linear_layout(model.state_dict()),
            "inputs": inputs,
            "head_inputs": head_inputs,
            "logits": logits,
            "wte": model.transformer.wte.weight.detach().clone(),
        }
    return ref


@pytest.fixture(scope="module")
def results(student, reference):
    return {
        name: student.call(load_and_run, CONFIGS[name], ref["state_dict"], ref["inputs"], ref["head_inputs"])
        for name, ref in reference.items()
    }


def _loaded(facts):
    """Fail with a readable account unless the state dict loaded."""
    if facts["no_parameters"]:
        fail("GPT2LMHeadModel has no parameters yet: build self.transformer and self.lm_head in __init__ (TODOs 1 and 2)")
    problems = []
    if facts["unfilled"]:
        unfilled = facts["unfilled"]
        if "lm_head.bias" in unfilled:
            fail("your lm_head has a bias, but GPT-2's head has none, so its weights cannot fill it: use bias=False")
        problems.append(f"your model has parameters GPT-2's weights do not provide: {unfilled[:4]}")
    if facts["absent"]:
        problems.append(f"GPT-2's weights have entries your model has no place for: {facts['absent'][:4]}")
    for key, (ours, theirs) in list(facts["shapes"].items())[:3]:
        problems.append(f"{key} has shape {tuple(ours)} in your model but {tuple(theirs)} in GPT-2's weights")
    if problems:
        fail("Hugging Face GPT-2 weights did not load into GPT2LMHeadModel: " + "; ".join(problems))


# -- checks ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
@check(
    "transformers' GPT-2 weights load into GPT2LMHeadModel",
    hint="Name the parts transformer and lm_head, and give lm_head no bias, so the keys match Hugging Face's.",
)
def test_weights_load(results, name):
    _loaded(results[name])


@pytest.mark.parametrize("case", CASES)
@check(
    "logits match transformers' GPT2LMHeadModel",
    hint="logits = lm_head(transformer(input_ids)), at every position, with nothing applied after lm_head.",
    weight=1.5,
)
def test_logits_match(results, reference, case):
    name, shape = next((n, case[len(n) + 1 :]) for n in CONFIGS if case.startswith(n + "-"))
    facts = results[name]
    _loaded(facts)
    assert_close(
        facts["logits"][shape], reference[name]["logits"][shape], what="GPT2LMHeadModel's output", atol=1e-4, rtol=1e-4
    )


@check(
    "lm_head.weight stays the same Parameter as transformer.wte.weight",
    hint="Tie them in __init__ with self.lm_head.weight = self.transformer.wte.weight, after creating both.",
    weight=2,
)
def test_tied(results):
    for facts in results.values():
        _loaded(facts)
        if facts["same_parameter"]:
            continue
        if facts["same_storage"]:
            fail(
                "lm_head.weight and transformer.wte.weight share memory but are two Parameters, so training "
                "would update them separately: assign the Parameter itself, not its .data"
            )
        fail(
            "after loading GPT-2's weights, lm_head.weight and transformer.wte.weight are two separate "
            "matrices: GPT-2 ties them into one Parameter"
        )


@pytest.mark.parametrize("case", [f"{name}-{shape}" for name in CONFIGS for shape in HEAD_SHAPES])
@check(
    "the head turns the transformer's hidden states into logits with the embedding matrix",
    hint="forward should only apply lm_head to what self.transformer returns: it already ends with ln_f.",
)
def test_head_alone(results, reference, case):
    name, shape = next((n, case[len(n) + 1 :]) for n in CONFIGS if case.startswith(n + "-"))
    facts = results[name]
    _loaded(facts)
    head = facts["head"][shape]
    hidden = head["hidden"]
    B, T = HEAD_SHAPES[shape]
    expect(
        isinstance(hidden, torch.Tensor) and hidden.shape == (B, T, CONFIGS[name]["n_embd"]),
        f"self.transformer(input_ids) returned {describe(hidden)}, not the hidden states of shape "
        f"{(B, T, CONFIGS[name]['n_embd'])}",
    )
    assert_close(
        head["logits"],
        hidden.float() @ reference[name]["wte"].T,  # (B, T, vocab_size)
        what="the logits for the hidden states your transformer returns",
        atol=1e-4,
        rtol=1e-4,
    )
