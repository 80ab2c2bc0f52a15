# Hostile: at import, tries to silence the grader's audit of what the code
# reaches at run time: replaces sys.audit, takes the grader's finder off
# sys.meta_path, clears torch's global module hooks and, through gc, mutes
# every recorder object it finds. Its embeddings stay right (its points are
# its own); the tampering is what gets flagged.
import gc as _gc
import sys as _sys

_sys.audit = lambda *args, **kwargs: None
_sys.meta_path[:] = [finder for finder in _sys.meta_path if "grading" not in type(finder).__module__]
try:
    import torch.nn.modules.module as _torch_module

    _torch_module._global_module_registration_hooks.clear()
except (ImportError, AttributeError):
    pass
for _obj in _gc.get_objects():
    if type(_obj).__name__ in ("Recorder", "Listener"):
        _obj.flag = _obj.note = lambda *args, **kwargs: None
