"""Probes: small functions the judge sends into a worker by name.

A probe runs inside the sandbox as ``probe(step_module, *args)`` and must
return plain data (tensors, numbers, strings, lists, dicts, None), because
that is all a reply may carry. Probes shared by several steps live here;
a step's own probes live in its test file (module-level functions).
"""

from __future__ import annotations

import dataclasses


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
            facts["fields"][f.name] = getattr(f.type, "__name__", str(f.type))
    try:
        instance = cls()
    except Exception:
        instance = None
    for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "layer_norm_epsilon"):
        value = getattr(instance if instance is not None else cls, name, "<missing>")
        facts["values"][name] = value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
    return facts


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
        instance.load_state_dict({key: weight})
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
