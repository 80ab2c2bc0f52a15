# Hostile, or just unlucky: the first forward of the step ends its process
# (os._exit(3)); every later one, in the worker started again, is right. A
# marker in the worker's own temp folder remembers the crash. Only the
# check whose call crashed may lose its points; every later reply must
# answer its own request.
import os as _os
import tempfile as _tempfile

_MARKER = _os.path.join(_tempfile.gettempdir(), "crashed-once")


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        if not _os.path.exists(_MARKER):
            open(_MARKER, "w").close()
            _os._exit(3)
        return super().forward(input_ids)
