# Hostile: GPT2Embeddings.forward dereferences a null pointer (SIGSEGV).
import ctypes as _ctypes


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821 - defined by the solution above
    def forward(self, input_ids):
        return _ctypes.string_at(0)
