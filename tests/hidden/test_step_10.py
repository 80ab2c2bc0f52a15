"""Hidden checks for step 10: GPT2Model agrees with transformers' ``GPT2Model``
(its ``last_hidden_state``) on tiny configurations with every parameter
randomized, several seeds and shapes: B > 1, T = 1, T = n_positions, one
head and several, one, two and three layers, two epsilons.

Step 10 is graded on its own. Its worker already gives the submission the
grader's reference steps 01–09, so ``from step_09 import GPT2Block`` gets a
correct block. On top of that, the *composition* checks swap trusted parts
(``torch.nn.Embedding``, the step 09 reference block, ``torch.nn.LayerNorm``)
in for ``wte``, ``wpe``, every ``h[i]`` and ``ln_f`` after the model is
built, so they grade only ``forward``: embeddings plus positions 0 … T-1,
the blocks in order, the final norm. The *as built* checks run the model
exactly as the submission builds it; the labelled integration check runs the
student's own steps 01–10 together and is worth no points.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers.models.gpt2.modeling_gpt2 import GPT2Model as HFModel

from grading.engine.checks import check, fail, integration
from tests.hidden.test_step_09 import assert_matches, course_state_dict, hf_config, randomize_
from tests.visible.test_step_10 import model_outputs

CONFIGS = {
    "layers2-heads4": {"vocab_size": 97, "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 96},
    "layers1-heads1-eps0.01": {
        "vocab_size": 50, "n_positions": 12, "n_embd": 16, "n_layer": 1, "n_head": 1, "n_inner": 40,
        "layer_norm_epsilon": 1e-2,
    },
    "layers3-heads2": {"vocab_size": 64, "n_positions": 8, "n_embd": 24, "n_layer": 3, "n_head": 2, "n_inner": 72},
}  # fmt: skip
# (case id, config name, B, T); T = n_positions in the last three
CASES = [
    ("B2-T5-layers2-heads4", "layers2-heads4", 2, 5),
    ("B1-T1-layers2-heads4", "layers2-heads4", 1, 1),
    ("B3-T16-layers2-heads4", "layers2-heads4", 3, 16),
    ("B2-T12-layers1-heads1-eps0.01", "layers1-heads1-eps0.01", 2, 12),
    ("B2-T8-layers3-heads2", "layers3-heads2", 2, 8),
]
CASE_IDS = [case[0] for case in CASES]


def composed_outputs(step, runs):
    """Like ``model_outputs``, but after building the submission's GPT2Model,
    its wte, wpe, every h[i] and ln_f are replaced by trusted modules holding
    the run's weights: only the model's own forward is the submission's."""
    import torch
    from step_01 import GPT2Config

    from grading.reference.step_09 import GPT2Block

    def part_state(state, prefix):
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    outputs = []
    for run in runs:
        config, state = GPT2Config(**run["config"]), run["state_dict"]
        model = step.GPT2Model(config)
        parts = {
            "wte": torch.nn.Embedding(config.vocab_size, config.n_embd),
            "wpe": torch.nn.Embedding(config.n_positions, config.n_embd),
            "ln_f": torch.nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon),
        }
        for name, part in parts.items():
            part.load_state_dict(part_state(state, name + "."))
            setattr(model, name, part)
        blocks = [GPT2Block(config) for _ in range(config.n_layer)]
        for i, block in enumerate(blocks):
            block.load_state_dict(part_state(state, f"h.{i}."))
            block.eval()
        try:
            same_length = len(model.h) == config.n_layer
        except TypeError:
            same_length = False
        if same_length:  # keep the submission's container (ModuleList, Sequential, list)
            for i, block in enumerate(blocks):
                model.h[i] = block
        else:  # the wrong number of blocks is a construction mistake, graded by the "as built" checks
            model.h = torch.nn.ModuleList(blocks)
        if isinstance(model, torch.nn.Module):
            model.eval()
        with torch.no_grad():
            outputs.append([model(ids.clone()) for ids in run["inputs"]])
    return {"outputs": outputs}


def model_variants(hf, ids: torch.Tensor, eps: float) -> dict:
    """Wrong models a student might write, computed with transformers' parts (float64)."""
    T = ids.shape[1]
    wte, wpe, blocks, ln_f = hf.wte, hf.wpe, list(hf.h), hf.ln_f
    positions = torch.arange(T)

    def chain(x, every=None):
        for block in blocks:
            x = block(x)
            x = every(x) if every else x
        return x

    def default_eps(x):
        return F.layer_norm(x, ln_f.normalized_shape, ln_f.weight, ln_f.bias, eps=1e-5)

    emb = wte(ids) + wpe(positions)
    variants = {
        "a model whose positions start at 1: position_ids = torch.arange(T), which is 0, 1, …, T-1.": lambda: ln_f(
            chain(wte(ids) + wpe(positions + 1))
        ),
        "a model without position embeddings: add wpe(position_ids) to wte(input_ids).": lambda: ln_f(chain(wte(ids))),
        "a model without the final layer norm: return self.ln_f(x) after the last block.": lambda: chain(emb),
        "a model that applies ln_f after every block: apply it once, after the loop.": lambda: chain(emb, every=ln_f),
        "a model that scales the token embeddings by sqrt(n_embd): GPT-2 adds them as they are.": lambda: ln_f(
            chain(wte(ids) * wte.embedding_dim**0.5 + wpe(positions))
        ),
        "a model whose ln_f uses eps=1e-5 instead of config.layer_norm_epsilon.": lambda: default_eps(chain(emb))
        if eps != 1e-5
        else None,
    }
    if len(blocks) > 1:
        variants |= {
            "a model that feeds the embeddings to every block instead of chaining them: write x = block(x).": lambda: ln_f(
                blocks[-1](emb)
            ),
            "a model that runs only the first block: loop over all of self.h.": lambda: ln_f(blocks[0](emb)),
        }
    return variants


@pytest.fixture(scope="module")
def reference():
    """One randomized transformers GPT2Model per case, its input ids and last hidden state (float64)."""
    cases = {}
    for seed, (case_id, config_name, B, T) in enumerate(CASES):
        cfg = CONFIGS[config_name]
        gen = torch.Generator().manual_seed(1000 + seed)
        hf = randomize_(HFModel(hf_config(cfg)), gen)
        ids = torch.randint(0, cfg["vocab_size"], (B, T), generator=gen)
        state = course_state_dict(hf)
        hf = hf.double()
        with torch.no_grad():
            expected = hf(input_ids=ids).last_hidden_state.float()
        cases[case_id] = {"config": cfg, "state_dict": state, "ids": ids, "expected": expected, "hf": hf}
    return cases


def _runs(reference, case_ids=CASE_IDS):
    return [
        {"config": reference[c]["config"], "state_dict": reference[c]["state_dict"], "inputs": [reference[c]["ids"]]}
        for c in case_ids
    ]


def _by_case(result, case_ids=CASE_IDS):
    if "missing" in result:
        return result
    return {case_id: outs[0] for case_id, outs in zip(case_ids, result["outputs"])}


@pytest.fixture(scope="module")
def built(student, reference):
    return _by_case(student.call(model_outputs, _runs(reference)))


@pytest.fixture(scope="module")
def composed(student, reference):
    return _by_case(student.call(composed_outputs, _runs(reference)))


@pytest.fixture(scope="module")
def own_stack(student_own_stack, reference):
    return _by_case(student_own_stack.call(model_outputs, _runs(reference, CASE_IDS[:2])), CASE_IDS[:2])


def _check_case(outputs, reference, case, what):
    if "missing" in outputs:
        fail(outputs["missing"])
    ref = reference[case]
    with torch.no_grad():
        assert_matches(
            outputs[case],
            ref["expected"],
            what=what,
            variants=model_variants(ref["hf"], ref["ids"], ref["config"].get("layer_norm_epsilon", 1e-5)),
            hint_shape="the output should be (batch, tokens, n_embd)",
        )


@pytest.mark.parametrize("case", CASE_IDS)
@check(
    "forward matches transformers' GPT2Model: embeddings + positions 0 … T-1, the blocks in order, ln_f",
    hint="x = self.wte(input_ids) + self.wpe(torch.arange(T)); then x = block(x) for every block in self.h; "
    "return self.ln_f(x).",
    weight=1.2,
)
def test_composition(composed, reference, case):
    _check_case(composed, reference, case, "GPT2Model's output (with trusted wte, wpe, blocks and ln_f)")


@pytest.mark.parametrize("case", CASE_IDS)
@check(
    "GPT2Model, as you build it, matches transformers' GPT2Model",
    hint="wpe needs n_positions rows, h needs config.n_layer blocks, ln_f needs eps=config.layer_norm_epsilon.",
    weight=0.6,
)
def test_as_built(built, reference, case):
    _check_case(built, reference, case, "GPT2Model's output")


@pytest.mark.parametrize("case", CASE_IDS[:2])
@integration(
    "your own steps 01–10 together match transformers' GPT2Model",
    hint="This check uses your own earlier steps instead of the grader's; it is worth no points. "
    "If only this one fails, the mistake is in an earlier step: run python -m grading check to find it.",
)
def test_own_stack(own_stack, reference, case):
    _check_case(own_stack, reference, case, "GPT2Model's output (with your own steps 01–09)")
