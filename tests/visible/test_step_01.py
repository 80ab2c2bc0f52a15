"""Visible checks for step 01: run them with `python -m grading check 1`."""

import pytest

from grading.engine.checks import check, expect
from grading.engine.probes import config_facts

EXPECTED = {
    "vocab_size": 50257,
    "n_positions": 1024,
    "n_embd": 768,
    "n_layer": 12,
    "n_head": 12,
    "n_inner": 3072,
    "layer_norm_epsilon": 1e-5,
}


@pytest.fixture(scope="module")
def facts(student):
    return student.call(config_facts)


@check(
    "dataclass is correctly imported from dataclasses",
    hint="Add `from dataclasses import dataclass` at the top of step_01.py.",
)
def test_dataclass_imported(facts):
    expect(facts["dataclass_imported"], "dataclass is not imported from dataclasses")


@check(
    "GPT2Config is decorated with @dataclass",
    hint="Put `@dataclass` on the line just above `class GPT2Config:`.",
)
def test_is_dataclass(facts):
    expect(facts["exists"], "step_01.py does not define a class named GPT2Config")
    expect(facts["is_dataclass"], "GPT2Config is not a dataclass: the @dataclass decorator is missing")


@pytest.mark.parametrize("name", list(EXPECTED), ids=list(EXPECTED))
@check(
    "{name} is set correctly",
    hint="Compare with `transformers.GPT2Config()` or the model's config.json (n_inner is 4 * n_embd).",
)
def test_value(facts, name):
    got = facts["values"].get(name, "<missing>")
    expect(
        got == EXPECTED[name] and type(got) is type(EXPECTED[name]),
        f"{name} is incorrect: expected match with Hugging Face model configuration, got {got}",
    )
