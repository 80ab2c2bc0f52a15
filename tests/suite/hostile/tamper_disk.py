# Hostile: at import, tries to plant files the grader (or a relaunched judge)
# would load: a .pth in site-packages and a module on every sys.path folder
# (next to the grader's package too). The test checks none of them appeared
# (and removes any that did: their content is inert).
import os as _os
import site as _site
import sys as _sys

_MARK = "grading_hostile_marker"
_targets = [_os.path.join(p, f"{_MARK}.pth") for p in _site.getsitepackages()]
_targets += [_os.path.join(p, f"{_MARK}.py") for p in _sys.path if p and _os.path.isdir(p)]
for _target in _targets:
    try:
        with open(_target, "w") as _fh:
            _fh.write("# written by a hostile submission\n")
    except OSError:
        pass
