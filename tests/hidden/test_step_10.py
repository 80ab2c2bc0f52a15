"""Hidden checks for step 10: GPT2Model agrees with transformers' ``GPT2Model``
(its ``last_hidden_state``) on tiny configurations with every parameter
randomized, several seeds and shapes: B > 1, T = 1, T = n_positions, one
head and several, one, two and three layers, two epsilons.

Step 10 is graded on its own: its worker gives the submission the grader's
reference steps 01–09 (``from step_09 import GPT2Block`` gets a correct
block), so the parts the model builds are trusted ones, and every check runs
the whole model exactly as the submission builds it, on loaded weights,
however its forward reaches those parts (``self.h``, a list of the blocks
kept at construction, ...). The *composition* checks use the default eps, so
they grade forward: embeddings plus positions 0 … T-1, the blocks in order,
the final norm; the *as built* checks add a non-default eps. (Each check
also earns its points on the student's own steps 01–09 when those are all
correct: see ``grading.engine.plugin``.)
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grading.engine.checks import check, fail, reference_fixture
from tests.hidden.test_step_09 import assert_matches, course_state_dict, hf_config, randomize_
from tests.visible.test_step_10 import model_outputs

# The composition cases grade forward: their configurations use the default eps,
# so a construction slip (ln_f without config.layer_norm_epsilon) costs only the
# "as built" checks, which also use eps = 0.01.
CONFIGS = {
    "layers2-heads4": {"vocab_size": 97, "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 96},
    "layers1-heads1": {"vocab_size": 50, "n_positions": 12, "n_embd": 16, "n_layer": 1, "n_head": 1, "n_inner": 40},
    "layers3-heads2": {"vocab_size": 64, "n_positions": 8, "n_embd": 24, "n_layer": 3, "n_head": 2, "n_inner": 72},
    "layers1-heads1-eps0.01": {
        "vocab_size": 50, "n_positions": 12, "n_embd": 16, "n_layer": 1, "n_head": 1, "n_inner": 40,
        "layer_norm_epsilon": 1e-2,
    },
}  # fmt: skip
# (case id, config name, B, T); T = n_positions in several
CASES = [
    ("B2-T5-layers2-heads4", "layers2-heads4", 2, 5),
    ("B1-T1-layers2-heads4", "layers2-heads4", 1, 1),
    ("B3-T16-layers2-heads4", "layers2-heads4", 3, 16),
    ("B2-T12-layers1-heads1", "layers1-heads1", 2, 12),
    ("B2-T8-layers3-heads2", "layers3-heads2", 2, 8),
]
BUILT_CASES = [
    ("B2-T7-layers2-heads4", "layers2-heads4", 2, 7),
    ("B1-T16-layers2-heads4", "layers2-heads4", 1, 16),
    ("B2-T12-layers1-heads1-eps0.01", "layers1-heads1-eps0.01", 2, 12),
    ("B1-T1-layers1-heads1-eps0.01", "layers1-heads1-eps0.01", 1, 1),
    ("B3-T8-layers3-heads2", "layers3-heads2", 3, 8),
]
CASE_IDS = [case[0] for case in CASES]
BUILT_IDS = [case[0] for case in BUILT_CASES]


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


@reference_fixture
def reference():
    """One randomized transformers GPT2Model per case, its input ids and last hidden state (float64)."""
    from transformers.models.gpt2.modeling_gpt2 import GPT2Model as HFModel

    cases = {}
    for seed, (case_id, config_name, B, T) in enumerate(CASES + BUILT_CASES):
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


def _runs(reference, case_ids):
    return [
        {"config": reference[c]["config"], "state_dict": reference[c]["state_dict"], "inputs": [reference[c]["ids"]]}
        for c in case_ids
    ]


def _by_case(result, case_ids):
    if "missing" in result:
        return result
    return {case_id: outs[0] for case_id, outs in zip(case_ids, result["outputs"])}


@pytest.fixture(scope="module")
def composed(student, reference):
    return _by_case(student.call(model_outputs, _runs(reference, CASE_IDS)), CASE_IDS)


@pytest.fixture(scope="module")
def built(student, reference):
    return _by_case(student.call(model_outputs, _runs(reference, BUILT_IDS)), BUILT_IDS)


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
    _check_case(composed, reference, case, "GPT2Model's output")


@pytest.mark.parametrize("case", BUILT_IDS)
@check(
    "GPT2Model, as you build it, matches transformers' GPT2Model (sizes and eps from the config)",
    hint="wpe needs n_positions rows, h needs config.n_layer blocks, ln_f needs eps=config.layer_norm_epsilon.",
    weight=0.6,
)
def test_as_built(built, reference, case):
    _check_case(built, reference, case, "GPT2Model's output")
