# Hostile: the first forward of the whole run kills its parent, the judge,
# once (a marker in the submission folder remembers it across judges). Run
# with Landlock and seccomp off, so the kill lands: the check that was
# running fails, and only that one.
import os as _os
import signal as _signal

_MARKER = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "killed-the-judge-once")


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        if not _os.path.exists(_MARKER):
            open(_MARKER, "w").close()
            _os.kill(_os.getppid(), _signal.SIGKILL)
        return super().forward(input_ids)
