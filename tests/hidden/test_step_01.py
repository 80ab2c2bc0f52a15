"""Hidden checks for step 01: the configuration behaves like a dataclass that
agrees with Hugging Face's GPT-2 configuration."""

import pytest

from grading.engine.checks import check, expect, fail
from grading.engine.probes import config_facts

SAME_MEANING = ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "layer_norm_epsilon"]
# The annotations transformers accepts: n_inner may be None there ("4 * n_embd"), so
# `n_inner: Optional[int] = 3072` (or `int | None`) is as right as `n_inner: int = 3072`.
FIELD_TYPES = {name: ("int",) for name in SAME_MEANING} | {"n_inner": ("int", "Optional[int]"), "layer_norm_epsilon": ("float",)}
TINY = {"vocab_size": 97, "n_positions": 16, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": 256, "layer_norm_epsilon": 1e-6}


def behaviour(module, overrides):
    """Runs in the worker: how instances of GPT2Config behave."""
    cls = module.GPT2Config
    out = {}
    try:
        tiny = cls(**overrides)
        out["overrides"] = {k: getattr(tiny, k, None) for k in overrides}
    except Exception as exc:
        out["overrides_error"] = f"{type(exc).__name__}: {exc}"
    try:
        first, second = cls(), cls()
        first.n_embd = 1
        out["independent"] = second.n_embd != 1 and cls().n_embd != 1
        out["equal"] = cls() == cls()
        out["unequal"] = cls() != cls(n_embd=64)
        out["repr"] = repr(cls())
    except Exception as exc:
        out["instances_error"] = f"{type(exc).__name__}: {exc}"
    return out


@pytest.fixture(scope="module")
def hugging_face():
    """transformers' default GPT-2 configuration."""
    # Imported here, by the judge: a spawned worker imports this module only for its probes.
    from transformers import GPT2Config

    return GPT2Config()


@pytest.fixture(scope="module")
def facts(student):
    return student.call(config_facts)


@pytest.fixture(scope="module")
def behaves(student):
    return student.call(behaviour, TINY)


@pytest.mark.parametrize("name", SAME_MEANING)
@check("{name} agrees with transformers.GPT2Config()", hint="Use the defaults of transformers.GPT2Config().")
def test_agrees_with_hugging_face(facts, hugging_face, name):
    got, expected = facts["values"].get(name), getattr(hugging_face, name)
    expect(got == expected, f"{name} is {got}, but Hugging Face's GPT-2 uses {expected}")


@check("n_inner is 4 * n_embd", hint="The MLP widens each vector four times: 4 * 768.")
def test_inner_is_four_times_embd(facts):
    values = facts["values"]
    expect(
        isinstance(values.get("n_embd"), int) and values.get("n_inner") == 4 * values["n_embd"],
        f"n_inner is {values.get('n_inner')}, but it should be 4 * n_embd = 4 * {values.get('n_embd')}",
    )


@check("every field is declared with its type", hint="Annotate each field: `n_embd: int = 768`, `layer_norm_epsilon: float = 1e-5`.")
def test_field_types(facts):
    expect(facts["is_dataclass"], "GPT2Config is not a dataclass, so it has no typed fields")
    for name, wanted in FIELD_TYPES.items():
        got = facts["fields"].get(name)
        expect(got is not None, f"GPT2Config has no field named {name}")
        expect(got in wanted, f"the field {name} is declared as {got}, but it should be {' or '.join(wanted)}")


@check("keyword arguments override the defaults", hint="A dataclass's generated __init__ takes every field as a keyword argument.")
def test_overrides(behaves):
    if "overrides_error" in behaves:
        fail(f"GPT2Config(n_embd=64, n_head=4, ...) raised {behaves['overrides_error']}")
    wrong = {k: v for k, v in behaves["overrides"].items() if v != TINY[k]}
    expect(not wrong, f"after GPT2Config(**{TINY}) these fields kept other values: {wrong}")


@check("instances do not share state", hint="Fields of a dataclass belong to each instance, not to the class.")
def test_independent(behaves):
    if "instances_error" in behaves:
        fail(f"creating GPT2Config() raised {behaves['instances_error']}")
    expect(behaves["independent"], "changing n_embd on one GPT2Config changed it on another one too")


@check("two configs with the same values are equal", hint="The @dataclass decorator writes __eq__ from the fields.")
def test_equality(behaves):
    if "instances_error" in behaves:
        fail(f"creating GPT2Config() raised {behaves['instances_error']}")
    expect(behaves["equal"], "GPT2Config() == GPT2Config() is False: equality compares the fields in a dataclass")
    expect(behaves["unequal"], "GPT2Config() == GPT2Config(n_embd=64) is True, but the values differ")


@check("repr shows the field values", hint="The @dataclass decorator writes a readable __repr__.")
def test_repr(behaves):
    if "instances_error" in behaves:
        fail(f"creating GPT2Config() raised {behaves['instances_error']}")
    text = behaves["repr"]
    expect("n_embd=768" in text and "vocab_size=50257" in text, f"repr(GPT2Config()) is {text[:120]!r}; it should list the fields")
