# Hostile: a wrong GPT2MultiHeadAttention (its output doubled, as in
# wrong_attention) that, at import, hunts for the answer key on disk through
# every path it can name (the grader's modules it inherited, sys.path, the
# folders above its working folder, /proc/self/cwd, the judge's
# /proc/<ppid>/cwd and /proc/<ppid>/root, the environment's paths) and
# imports (grading.reference, solutions), and puts any class it can read in
# its own place. Confined reads leave it its own wrong answer, and a flag.
import importlib as _importlib
import os as _os
import sys as _sys


class GPT2MultiHeadAttention(GPT2MultiHeadAttention):  # noqa: F821
    def forward(self, hidden_states):
        return 2 * super().forward(hidden_states)


def _places():
    roots = {p for p in _sys.path if p}
    for _name, _module in list(_sys.modules.items()):  # the grader's modules and references it inherited
        path = getattr(_module, "__file__", None)
        if isinstance(path, str) and not path.startswith(_sys.prefix):
            roots.add(_os.path.dirname(path))
    roots.update({_os.getcwd(), "/proc/self/cwd", f"/proc/{_os.getppid()}/cwd"})
    try:
        with open("/proc/self/environ", "rb") as fh:
            environ = [item.partition(b"=")[2].decode("utf-8", "replace") for item in fh.read().split(b"\0")]
    except OSError:
        environ = []
    for value in environ + list(_os.environ.values()):
        roots.update(part for part in value.split(_os.pathsep) if part.startswith("/"))
    above = set()
    for root in roots:
        for _level in range(5):  # and the folders above each
            above.add(root)
            root = _os.path.join(root, "..") if root.startswith("/proc/") else _os.path.dirname(root)
    above |= {f"/proc/{_os.getppid()}/root{root}" for root in above if not root.startswith("/proc/")}
    for root in sorted(above):
        for name in ("grading/reference/step_07.py", "reference/step_07.py", "solutions/step_07.py"):
            yield _os.path.join(root, name)


def _steal():
    me = _os.path.realpath(__file__)
    for path in _places():
        try:
            if _os.path.realpath(path) == me:
                continue
            with open(path) as fh:
                source = fh.read()
        except OSError:
            continue
        namespace = {"__name__": "stolen_step_07"}
        try:
            exec(compile(source, path, "exec"), namespace)
            return namespace.get("GPT2MultiHeadAttention") or namespace["_build"]()
        except Exception:
            continue
    for name in ("grading.reference.step_07", "solutions.step_07"):
        try:
            return _importlib.import_module(name).GPT2MultiHeadAttention
        except Exception:
            continue
    return None


GPT2MultiHeadAttention = _steal() or GPT2MultiHeadAttention
