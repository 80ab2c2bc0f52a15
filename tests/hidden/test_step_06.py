"""Hidden checks for step 06: GPT2PositionEmbeddings agrees with the ``wpe``
of transformers' ``GPT2Model``, with a random table, for position_ids of many
shapes (1-D, batched, offset, shuffled, up to n_positions), forward and
backward."""

import pytest
import torch

from grading.engine.checks import assert_close, check, expect, fail, manual_seed, reference_fixture
from tests.visible.test_step_06 import position_outputs

CONFIGS = {
    "ctx16-embd32": {"vocab_size": 50, "n_positions": 16, "n_embd": 32, "n_layer": 1, "n_head": 4, "n_inner": 128},
    "ctx9-embd8": {"vocab_size": 50, "n_positions": 9, "n_embd": 8, "n_layer": 1, "n_head": 2, "n_inner": 32},
}


def _positions(n_positions: int, gen: torch.Generator) -> dict:
    n = n_positions
    return {
        "T1": torch.arange(1),
        "T5": torch.arange(5),
        f"T{n}": torch.arange(n),  # the whole context
        "B1-T5": torch.arange(5).unsqueeze(0),
        f"B3-T{n}": torch.arange(n).repeat(3, 1),
        "from-3": torch.arange(3, 8),  # positions that follow earlier tokens
        "last-position": torch.tensor([n - 1]),
        "shuffled-B2-T3": torch.randperm(n, generator=gen)[:6].view(2, 3),
        "B2x2-T3": torch.randint(0, n, (2, 2, 3), generator=gen),
    }


def _cases():
    cases = []
    for seed, (name, cfg) in enumerate(CONFIGS.items()):
        gen = torch.Generator().manual_seed(200 + seed)
        for shape_id, positions in _positions(cfg["n_positions"], gen).items():
            cases.append((f"{name}-{shape_id}", name, positions))
    return cases


CASES = _cases()
CASE_IDS = [case_id for case_id, _, _ in CASES]


@reference_fixture
def reference():
    """Random wpe tables from transformers' GPT2Model, their outputs and gradients."""
    # Imported here, by the judge: a spawned worker imports this module only for its probes.
    from transformers import GPT2Config as HFConfig, GPT2Model

    models, expected, upstream = {}, {}, []
    for seed, (name, cfg) in enumerate(CONFIGS.items()):
        manual_seed(10 + seed)
        hf_config = HFConfig(
            **{k: cfg[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")},
            bos_token_id=cfg["vocab_size"] - 1,
            eos_token_id=cfg["vocab_size"] - 1,
        )
        model = GPT2Model(hf_config)
        for p in model.parameters():
            torch.nn.init.normal_(p)
        models[name] = model
    for case_id, name, positions in CASES:
        wpe = models[name].wpe
        wpe.zero_grad()
        out = wpe(positions)
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(len(upstream)))
        (out * grad_out).sum().backward()
        expected[case_id] = (out.detach(), wpe.weight.grad.clone())
        upstream.append(grad_out)
    tables = {name: model.wpe.weight.detach().clone() for name, model in models.items()}
    return {"tables": tables, "expected": expected, "upstream": upstream}


@pytest.fixture(scope="module")
def outputs(student, reference):
    result = student.call(
        position_outputs,
        [CONFIGS[name] for _, name, _ in CASES],
        [reference["tables"][name] for _, name, _ in CASES],
        [positions for _, _, positions in CASES],
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
    "GPT2PositionEmbeddings matches the wpe of transformers' GPT2Model",
    hint="Return self.wpe(position_ids) for the ids you are given, whatever their shape or first value.",
    weight=2,
)
def test_matches(outputs, reference, case):
    got, _ = _case(outputs, case)
    want, _ = reference["expected"][case]
    assert_close(
        got, want, what="GPT2PositionEmbeddings' output", hint_shape="it should be position_ids' shape followed by n_embd"
    )


@check(
    "training would update exactly the rows of wpe that were looked up",
    hint="wpe.weight must be a trainable parameter used directly: no padding_idx, no detach, no torch.no_grad().",
)
def test_gradients(outputs, reference):
    for case in CASE_IDS:
        got, grad = _case(outputs, case)
        want, want_grad = reference["expected"][case]
        expect(
            isinstance(got, torch.Tensor) and got.shape == want.shape,
            f"GPT2PositionEmbeddings' output had the wrong shape ({case}), so no gradient could be compared",
        )
        expect(grad is not None, "wpe.weight got no gradient: is it frozen, detached or used under torch.no_grad()?")
        assert_close(grad, want_grad, what=f"the gradient of wpe.weight ({case})")
