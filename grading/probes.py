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
