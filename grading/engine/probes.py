"""Probes: small functions the judge sends into a worker by name.

A probe runs inside the sandbox as ``probe(step_module, *args)`` and must
return plain data (tensors, numbers, strings, lists, dicts, None), because
that is all a reply may carry. Probes shared by several steps live here;
a step's own probes live in its test file (module-level functions).

``load_weights`` is the one way a probe puts GPT-2's weights into a
student's module: leniently, so that structure costs structure only. A
buffer of the module's own that GPT-2's state dict does not have (a causal
mask kept as ``attn.bias``, as in OpenAI's checkpoint) keeps its value; a
parameter the weights do not fill, a weight the module has no place for, or
a shape that differs is a clear message instead.
"""

from __future__ import annotations

import dataclasses
import types
import typing


def config_facts(module, class_name: str = "GPT2Config") -> dict:
    """What step 01's configuration class looks like, as data."""
    cls = getattr(module, class_name, None)
    facts = {
        "exists": isinstance(cls, type),
        "dataclass_imported": getattr(module, "dataclass", None) is dataclasses.dataclass,
        "is_dataclass": isinstance(cls, type) and dataclasses.is_dataclass(cls),
        "fields": {},
        "values": {},
    }
    if not facts["exists"]:
        return facts
    if facts["is_dataclass"]:
        for f in dataclasses.fields(cls):
            facts["fields"][f.name] = type_name(f.type)
    try:
        instance = cls()
    except Exception:
        instance = None
    for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "layer_norm_epsilon"):
        value = getattr(instance if instance is not None else cls, name, "<missing>")
        facts["values"][name] = value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
    return facts


def type_name(annotation) -> str:
    """A field's annotation in one spelling: ``int``, ``float``, and
    ``Optional[int]`` for ``Optional[int]``, ``int | None`` and
    ``Union[int, None]``, whether the annotation is a type or a string
    (``from __future__ import annotations``)."""
    if isinstance(annotation, str):
        text = annotation.replace(" ", "").replace("typing.", "")
        for inner in ("Optional[", "Union[None,"):
            if text.startswith(inner) and text.endswith("]"):
                text = text[len(inner) : -1] + "|None"
        if text.startswith("Union[") and text.endswith(",None]"):
            text = text[len("Union[") : -len(",None]")] + "|None"
        parts = text.split("|")
        rest = [p for p in parts if p != "None"]
        if len(parts) == 2 and len(rest) == 1:
            return f"Optional[{rest[0]}]"
        return text
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(args) == 2 and len(rest) == 1:
            return f"Optional[{type_name(rest[0])}]"
        return " | ".join(type_name(a) for a in args)
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def weights_fit(module, state_dict) -> dict:
    """How GPT-2's ``state_dict`` fits ``module``, as plain data: ``absent``,
    the weights the module has no place for; ``unfilled``, the module's
    parameters the weights do not fill; ``shapes``, ``{key: [module's,
    weights']}`` where they differ. Buffers of the module that the weights
    lack are not counted: they keep their own values."""
    have = module.state_dict()
    buffers = {name for name, _ in module.named_buffers(remove_duplicate=False)}
    return {
        "no_parameters": not list(module.parameters()),
        "absent": [key for key in state_dict if key not in have],
        "unfilled": [key for key in have if key not in state_dict and key not in buffers],
        "shapes": {
            key: [list(have[key].shape), list(value.shape)]
            for key, value in state_dict.items()
            if key in have and tuple(have[key].shape) != tuple(value.shape)
        },
    }


def saved_weights(module) -> dict[str, list[int]]:
    """The shapes of a module's state dict, its buffers left out: the
    structure checks of a block or a model look at the weights GPT-2 has (a
    mask buffer is step 07's business, checked there)."""
    buffers = {name for name, _ in module.named_buffers(remove_duplicate=False)}
    return {name: list(value.shape) for name, value in module.state_dict().items() if name not in buffers}


def weights_problem(name: str, fit: dict, empty: str = "create its submodules in __init__") -> str:
    """Why GPT-2's weights cannot be loaded into the student's ``name``
    (empty when they can), from ``weights_fit``."""
    if fit["no_parameters"]:
        return f"{name} has no parameters yet: {empty}"
    parts = []
    if fit["absent"]:
        parts.append(f"it has no {_some(fit['absent'])}")
    if fit["unfilled"]:
        parts.append(f"it also holds {_some(fit['unfilled'])}, which GPT-2's weights do not have")
    for key, (got, expected) in list(fit["shapes"].items())[:2]:
        parts.append(f"{key} has shape {tuple(got)} instead of {tuple(expected)}")
    return f"GPT-2's weights cannot be loaded into your {name}: " + "; ".join(parts) if parts else ""


def _some(keys, shown: int = 4) -> str:
    return ", ".join(keys[:shown]) + (" …" if len(keys) > shown else "")


def load_weights(name: str, module, state_dict, empty: str = "create its submodules in __init__") -> str:
    """Load GPT-2's ``state_dict`` into the student's ``module`` (called
    ``name`` in messages) the lenient way (see the module docstring). Returns
    "" once loaded, else why it could not be, in words for the student."""
    import torch

    if not isinstance(module, torch.nn.Module):
        return f"{name} is not an nn.Module: it should subclass nn.Module"
    problem = weights_problem(name, weights_fit(module, state_dict), empty)
    if not problem:
        module.load_state_dict(state_dict, strict=False)  # only the module's own buffers stay unloaded
    return problem


def table_structure(module, class_name: str, table: str, config_kwargs: dict) -> dict:
    """What an embedding module (step 05's ``wte``, step 06's ``wpe``) holds."""
    import torch
    from step_01 import GPT2Config

    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        return {"exists": False}
    instance = cls(GPT2Config(**config_kwargs))
    lookup = getattr(instance, table, None)
    return {
        "exists": True,
        "is_module": isinstance(instance, torch.nn.Module),
        table: type(lookup).__name__ if lookup is not None else None,
        f"{table}_is_embedding": isinstance(lookup, torch.nn.Embedding),
        "parameters": {name: [list(p.shape), p.requires_grad] for name, p in instance.named_parameters()}
        if isinstance(instance, torch.nn.Module)
        else {},
    }


def table_outputs(module, class_name: str, table: str, config_kwargs, weights, inputs, upstream=None) -> dict:
    """Run an embedding module on each input with its ``table`` set to the
    matching entry of ``weights``; return the outputs and, when ``upstream``
    is given, the gradient of ``(output * upstream).sum()`` for the table.
    ``config_kwargs``, ``weights``, ``inputs`` (and ``upstream``) are lists
    with one entry per case."""
    import torch
    from step_01 import GPT2Config

    outputs, grads = [], []
    key = f"{table}.weight"
    for index, (kwargs, weight, ids) in enumerate(zip(config_kwargs, weights, inputs)):
        instance = getattr(module, class_name)(GPT2Config(**kwargs))
        params = dict(instance.named_parameters()) if isinstance(instance, torch.nn.Module) else {}
        if key not in params:
            return {"missing": missing_table(class_name, table, params)}
        problem = load_weights(class_name, instance, {key: weight})
        if problem:
            return {"missing": problem}
        if upstream is None:
            with torch.no_grad():
                outputs.append(instance(ids))
        else:
            instance.zero_grad()
            out = instance(ids)
            outputs.append(out.detach() if isinstance(out, torch.Tensor) else out)
            if isinstance(out, torch.Tensor) and out.shape == upstream[index].shape and out.requires_grad:
                (out * upstream[index]).sum().backward()
            grad = params[key].grad
            grads.append(None if grad is None else grad.clone())
    return {"outputs": outputs, "grads": grads}


def missing_table(class_name: str, table: str, params) -> str:
    if not params:
        return f"{class_name} has no parameters yet: create self.{table} in __init__ (TODO 1)"
    return f"{class_name} has no parameter {table}.weight; its parameters are {sorted(params)}"
