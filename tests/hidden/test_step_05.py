"""Hidden checks for step 05: GPT2Embeddings agrees with the ``wte`` of
transformers' ``GPT2Model``, with a random table, for several vocabularies,
widths and input shapes, forward and backward."""

import pytest
import torch

from grading.engine.checks import assert_close, check, expect, fail, manual_seed, reference_fixture
from tests.visible.test_step_05 import embedding_outputs

CONFIGS = {
    "vocab97-embd32": {"vocab_size": 97, "n_positions": 16, "n_embd": 32, "n_layer": 1, "n_head": 4, "n_inner": 128},
    "vocab50-embd8": {"vocab_size": 50, "n_positions": 16, "n_embd": 8, "n_layer": 1, "n_head": 2, "n_inner": 32},
}
SHAPES = {"B1-T1": (1, 1), "B2-T5": (2, 5), "B3-T16": (3, 16)}  # T = 16 is n_positions


def _cases():
    """(case id, config name, input_ids), every id drawn from its own seed."""
    cases = []
    for seed, (name, cfg) in enumerate(CONFIGS.items()):
        gen = torch.Generator().manual_seed(100 + seed)
        for shape_id, shape in SHAPES.items():
            cases.append((f"{name}-{shape_id}", name, torch.randint(0, cfg["vocab_size"], shape, generator=gen)))
        last = cfg["vocab_size"] - 1
        cases.append((f"{name}-first-and-last-ids", name, torch.tensor([[0, last, 1], [last, 0, last - 1]])))
    return cases


CASES = _cases()
CASE_IDS = [case_id for case_id, _, _ in CASES]


@reference_fixture
def reference():
    """Random wte tables from transformers' GPT2Model, their outputs and gradients."""
    # Imported here, by the judge: a spawned worker imports this module only for its probes.
    from transformers import GPT2Config as HFConfig, GPT2Model

    tables, expected = {}, {}
    for seed, (name, cfg) in enumerate(CONFIGS.items()):
        manual_seed(seed)
        hf_config = HFConfig(
            **{k: cfg[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")},
            bos_token_id=cfg["vocab_size"] - 1,
            eos_token_id=cfg["vocab_size"] - 1,
        )
        model = GPT2Model(hf_config)
        for p in model.parameters():
            torch.nn.init.normal_(p)
        tables[name] = (model, model.wte.weight.detach().clone())
    upstream = []
    for case_id, name, ids in CASES:
        model, _ = tables[name]
        model.zero_grad()
        out = model.wte(ids)
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(len(upstream)))
        (out * grad_out).sum().backward()
        expected[case_id] = (out.detach(), model.wte.weight.grad.clone())
        upstream.append(grad_out)
    return {"tables": {name: weight for name, (_, weight) in tables.items()}, "expected": expected, "upstream": upstream}


@pytest.fixture(scope="module")
def outputs(student, reference):
    result = student.call(
        embedding_outputs,
        [CONFIGS[name] for _, name, _ in CASES],
        [reference["tables"][name] for _, name, _ in CASES],
        [ids for _, _, ids in CASES],
        reference["upstream"],
    )
    if "missing" in result:
        return result
    return {case_id: (out, grad) for case_id, out, grad in zip(CASE_IDS, result["outputs"], result["grads"])}


def _case(outputs, case):
    if "missing" in outputs:
        fail(outputs["missing"])
    return outputs[case]


@pytest.mark.parametrize("case", CASE_IDS)
@check(
    "GPT2Embeddings matches the wte of transformers' GPT2Model",
    hint="Return self.wte(input_ids) as it is: shape (B, T, n_embd), row i of the table for token i.",
    weight=2,
)
def test_matches(outputs, reference, case):
    got, _ = _case(outputs, case)
    want, _ = reference["expected"][case]
    assert_close(got, want, what="GPT2Embeddings' output", hint_shape="it should be (batch, tokens, n_embd)")


@check(
    "training would update exactly the rows of wte that were looked up",
    hint="wte.weight must be a trainable parameter used directly: no padding_idx, no detach, no torch.no_grad().",
)
def test_gradients(outputs, reference):
    for case in CASE_IDS:
        got, grad = _case(outputs, case)
        want, want_grad = reference["expected"][case]
        expect(
            isinstance(got, torch.Tensor) and got.shape == want.shape,
            f"GPT2Embeddings' output had the wrong shape ({case}), so no gradient could be compared",
        )
        expect(grad is not None, "wte.weight got no gradient: is it frozen, detached or used under torch.no_grad()?")
        assert_close(grad, want_grad, what=f"the gradient of wte.weight ({case})")
