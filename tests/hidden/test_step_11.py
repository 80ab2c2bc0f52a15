"""Hidden checks for step 11: a Hugging Face ``GPT2LMHeadModel`` state dict,
every parameter random, loads into the student's GPT2LMHeadModel after the
``Conv1D`` transpose, and the logits then match transformers' for several
configurations and shapes (B > 1, T = 1, the full context). The head must be
bias-free and tied to ``transformer.wte.weight`` (one Parameter, before and
after loading). The head is also checked on its own, with the transformer's
output replaced by known hidden states, and (unscored) on the student's own
steps 01–10."""

import pytest
import torch
from transformers import GPT2Config as HFConfig
from transformers import GPT2LMHeadModel as HFGPT2LMHeadModel

from grading.engine.checks import assert_close, check, fail, integration

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
STUB_SHAPES = {"B2-T3": (2, 3), "B1-T1": (1, 1)}

# Hugging Face's Conv1D stores these weights as (in, out); nn.Linear wants (out, in).
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def to_linear_layout(hf_state: dict) -> dict:
    return {k: (v.t().contiguous() if k.endswith(CONV1D_WEIGHTS) else v.clone()) for k, v in hf_state.items()}


# -- probe: runs in the worker, `step` is the submission's step_11 ----------------


def load_and_run(step, config_kwargs, state_dict, inputs, stub_hidden):
    """Build GPT2LMHeadModel(config), load ``state_dict``, and return the
    logits for each input, the same logits with the transformer's output
    replaced by ``stub_hidden``, and facts about the head, as plain data."""
    import torch
    from step_01 import GPT2Config

    model = step.GPT2LMHeadModel(GPT2Config(**config_kwargs))
    ours = model.state_dict()
    params = [name for name, _ in model.named_parameters(remove_duplicate=False)]
    facts = {
        "no_parameters": not params,
        "missing": [k for k in params if k not in state_dict],
        "unexpected": [k for k in state_dict if k not in ours],
        "shapes": {
            k: [list(ours[k].shape), list(v.shape)] for k, v in state_dict.items() if k in ours and ours[k].shape != v.shape
        },
    }
    if facts["missing"] or facts["unexpected"] or facts["shapes"]:
        return facts
    model.load_state_dict(state_dict, strict=False)  # the checks above are stricter, and allow own buffers
    head, wte = model.lm_head.weight, model.transformer.wte.weight
    facts["same_parameter"] = head is wte
    facts["same_storage"] = head.data_ptr() == wte.data_ptr()
    with torch.no_grad():
        facts["logits"] = {name: model(ids) for name, ids in inputs.items()}
        facts["stub_logits"] = {}
        for name, hidden in stub_hidden.items():
            model.transformer.forward = lambda *args, _h=hidden, **kwargs: _h  # the transformer's output, fixed
            facts["stub_logits"][name] = model(torch.zeros(hidden.shape[:2], dtype=torch.long))
        del model.transformer.forward
    return facts


# -- the reference -----------------------------------------------------------------


def hf_model(config_kwargs: dict, seed: int) -> HFGPT2LMHeadModel:
    """transformers' GPT2LMHeadModel, tiny, every parameter random."""
    torch.manual_seed(seed)
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


@pytest.fixture(scope="module")
def reference():
    ref = {}
    for seed, (name, kwargs) in enumerate(CONFIGS.items()):
        model = hf_model(kwargs, 1100 + seed)
        gen = torch.Generator().manual_seed(1110 + seed)
        inputs = {shape: torch.randint(0, kwargs["vocab_size"], size, generator=gen) for shape, size in SHAPES[name].items()}
        stub = {shape: torch.randn(*size, kwargs["n_embd"], generator=gen) for shape, size in STUB_SHAPES.items()}
        with torch.no_grad():
            logits = {shape: model(ids).logits for shape, ids in inputs.items()}
        wte = model.transformer.wte.weight.detach()
        ref[name] = {
            "state_dict": to_linear_layout(model.state_dict()),
            "inputs": inputs,
            "logits": logits,
            "stub": stub,
            "stub_logits": {shape: h @ wte.T for shape, h in stub.items()},  # (B, T, vocab_size)
        }
    return ref


def _run(worker, reference):
    return {
        name: worker.call(load_and_run, CONFIGS[name], ref["state_dict"], ref["inputs"], ref["stub"])
        for name, ref in reference.items()
    }


@pytest.fixture(scope="module")
def results(student, reference):
    return _run(student, reference)


@pytest.fixture(scope="module")
def own_results(student_own_stack, reference):
    return _run(student_own_stack, reference)


def _loaded(facts):
    """Fail with a readable account unless the state dict loaded."""
    if facts["no_parameters"]:
        fail("GPT2LMHeadModel has no parameters yet: build self.transformer and self.lm_head in __init__ (TODOs 1 and 2)")
    problems = []
    if facts["missing"]:
        missing = facts["missing"]
        if "lm_head.bias" in missing:
            fail("your lm_head has a bias, but GPT-2's head has none, so its weights cannot fill it: use bias=False")
        problems.append(f"your model has parameters GPT-2's weights do not provide: {missing[:4]}")
    if facts["unexpected"]:
        problems.append(f"GPT-2's weights have entries your model has no place for: {facts['unexpected'][:4]}")
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


@pytest.mark.parametrize("case", [f"{name}-{shape}" for name in CONFIGS for shape in STUB_SHAPES])
@check(
    "the head turns hidden states into logits with the embedding matrix",
    hint="forward should only apply lm_head to what self.transformer returns: it already ends with ln_f.",
)
def test_head_alone(results, reference, case):
    name, shape = next((n, case[len(n) + 1 :]) for n in CONFIGS if case.startswith(n + "-"))
    facts = results[name]
    _loaded(facts)
    assert_close(
        facts["stub_logits"][shape],
        reference[name]["stub_logits"][shape],
        what="the head's output for given hidden states",
        atol=1e-4,
        rtol=1e-4,
    )


@integration(
    "your own steps 01-11 together compute transformers' logits",
    hint="This check uses your own earlier steps; if it fails while the others pass, the bug is in an earlier step.",
)
def test_own_stack(own_results, reference):
    for name, facts in own_results.items():
        _loaded(facts)
        for shape, expected in reference[name]["logits"].items():
            assert_close(facts["logits"][shape], expected, what=f"your full model's output ({name}, {shape})", atol=1e-4, rtol=1e-4)
