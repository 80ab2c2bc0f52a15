# Hostile: leaves a process running behind it (double fork + setsid), named
# "grading-orphan" so the test can look for it; it would live two minutes.
import ctypes as _ctypes
import os as _os
import time as _time


def _escape():
    if _os.fork() == 0:
        _os.setsid()
        if _os.fork() == 0:
            _ctypes.CDLL(None).prctl(15, b"grading-orphan", 0, 0, 0)  # PR_SET_NAME
            _time.sleep(120)
        _os._exit(0)


_escape()


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        _escape()
        return super().forward(input_ids)
