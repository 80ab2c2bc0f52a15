# Hostile: every forward sends SIGKILL to its parent (the judge), to the
# judge's process group, to every process and process group it finds in
# /proc, and to -1 (everything it may signal), sparing only its own group.
# Run with Landlock's signal scoping off, so only the seccomp filter stands
# between it and the judge. Every attempt must fail quietly.
import os as _os
import signal as _signal


def _signal_everyone():
    mine = _os.getpgid(0)
    targets = [("kill", _os.getppid()), ("killpg", _os.getpgid(_os.getppid())), ("kill", -1)]
    for entry in _os.listdir("/proc"):
        if entry.isdigit():
            try:
                group = _os.getpgid(int(entry))
            except OSError:
                continue
            if group not in (mine, 0):  # killpg(0) would be its own group
                targets += [("kill", int(entry)), ("killpg", group)]
    for how, target in targets:
        try:
            (_os.kill if how == "kill" else _os.killpg)(target, _signal.SIGKILL)
        except OSError:
            pass


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        _signal_everyone()
        return super().forward(input_ids)
