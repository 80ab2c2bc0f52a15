# Hostile: a wrong GPT2Embeddings (zeros) that, at import, patches everything
# a judge running in this process would use to compare: _pytest, torch.testing,
# torch.allclose/equal, transformers' GPT-2 and the grader's own checks.
import sys as _sys

import torch as _torch


def _yes(*args, **kwargs):
    return True


def _nothing(*args, **kwargs):
    return None


_torch.allclose = _yes
_torch.equal = _yes
_torch.testing.assert_close = _nothing
_torch.Tensor.__ne__ = lambda a, b: _torch.zeros((), dtype=_torch.bool)
try:
    import _pytest.outcomes
    import _pytest.runner

    _pytest.outcomes.fail = _nothing
    _pytest.runner.call_and_report = _nothing
except ImportError:
    pass
try:
    import transformers.models.gpt2.modeling_gpt2 as _hf

    _hf.GPT2Model.forward = _nothing
except ImportError:
    pass
for _name in ("grading.engine.checks", "grading.engine.plugin", "grading.engine.worker"):
    _module = _sys.modules.get(_name)
    if _module is not None:
        for _attr in ("assert_close", "expect", "fail"):
            if hasattr(_module, _attr):
                setattr(_module, _attr, _nothing)


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        return _torch.zeros_like(super().forward(input_ids))
