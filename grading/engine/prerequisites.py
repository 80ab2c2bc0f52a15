"""Earlier steps in a worker: each earlier step the module imports is the
submission's own module with its public API names (``Step.api`` in
``grading.config``) overlaid by the grader's reference, so a bug in step 03
never costs step 09 its points, while the student's other names in that file
(a ``make_config`` helper kept in ``step_01.py``) stay importable; and the
answers of this step and later ones are out of reach.

``preload_references`` runs in the judge (workers inherit what it imports);
the rest runs in the worker before the step module is imported.

The overlay is lazy: ``sys.modules["step_05"]`` is a ``StepOverlay`` whose
API names are the reference's; any other name is looked up in the student's
own ``step_05.py``, which is loaded only then, once. Loading it is contained:
an exception (``SystemExit`` too) or an import that does not finish within
half a call's time limit becomes an ``ImportError`` that names the file, and
the API names keep working. So a broken or hostile earlier file costs a later
step nothing unless that step uses one of the file's other names. Once
loaded, the student's module sees the other earlier steps overlaid as well,
and its own API names are replaced by the reference's, so its helpers build
the reference classes (``make_config()`` returns the reference
``GPT2Config``).

Where the reference modules are absent (the student template), nothing is
overlaid: a step runs on the submission's own earlier steps.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import signal
import sys
import threading
import types
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from ..config import STEPS, Limits, Step

def preload_references(before: Step):
    """Import, in the judge, the reference modules a worker for ``before``
    will use, so each forked worker inherits them instead of importing them
    again. They are plain torch: no worker needs transformers for them."""
    for earlier in STEPS:
        if earlier.id >= before.id:
            break
        try:
            importlib.import_module(f"grading.reference.{earlier.module}")
        except ModuleNotFoundError:
            pass


@cache
def references_exist(before: Step) -> bool:
    """Whether the grader has reference modules for the steps before ``before``
    (the source repository and the grader bundle do; the template does not)."""
    for earlier in STEPS:
        if earlier.id >= before.id:
            break
        try:
            if importlib.util.find_spec(f"grading.reference.{earlier.module}") is not None:
                return True
        except ModuleNotFoundError:
            return False
    return False


def install_reference_steps(before: Step):
    """Put a ``StepOverlay`` in ``sys.modules`` for every step before
    ``before`` that has a reference. Runs in the worker, with the submission
    folder already first on ``sys.path``."""
    load_timeout = Limits.from_env().call_timeout / 2
    for earlier in STEPS:
        if earlier.id >= before.id:
            break
        try:
            reference = importlib.import_module(f"grading.reference.{earlier.module}")
        except ModuleNotFoundError:
            continue  # no reference for that step (the student template): the submission's own is used
        spec = importlib.machinery.PathFinder.find_spec(earlier.module)
        own_file = spec.origin if spec is not None and spec.origin and spec.origin.endswith(".py") else None
        sys.modules[earlier.module] = StepOverlay(earlier, reference, own_file, load_timeout)


def hide_answers(step: Step):
    """The references of this step and later ones, and any solutions folder
    on the path, hold answers: importing them fails in a worker."""
    for later in STEPS:
        if later.id >= step.id:
            sys.modules[f"grading.reference.{later.module}"] = None
    sys.modules["solutions"] = None


# --------------------------------------------------------------------------
# The overlay


class StepOverlay(types.ModuleType):
    """An earlier step as a later step sees it: the reference's API names
    over the student's own module, which is loaded on first use of another
    name."""

    def __init__(self, step: Step, reference: types.ModuleType, own_file: str | None, load_timeout: float):
        super().__init__(step.module)
        self.__dict__["__overlay__"] = _OwnModule(step, reference, own_file, load_timeout)
        self.__dict__["__file__"] = own_file or getattr(reference, "__file__", None)

    def __getattr__(self, name: str):
        own = self.__dict__["__overlay__"]
        if name in own.step.api:
            return getattr(own.reference, name)
        if name == "__all__":  # `from step_05 import *`
            return own.public_names()
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module = own.load(wanted=name)
        try:
            return getattr(module, name)
        except AttributeError:
            raise AttributeError(f"module {self.__name__!r} ({own.step.filename}) has no attribute {name!r}") from None

    def __dir__(self):
        own = self.__dict__["__overlay__"]
        names = set(super().__dir__()) | set(own.step.api)
        if own.module is not None:
            names |= set(dir(own.module))
        return sorted(names)


class _OwnModule:
    """The student's own file of one earlier step, loaded at most once."""

    def __init__(self, step: Step, reference: types.ModuleType, path: str | None, load_timeout: float):
        self.step = step
        self.reference = reference
        self.path = path
        self.load_timeout = load_timeout
        self.module: types.ModuleType | None = None
        self.error: str | None = None
        self._loading: types.ModuleType | None = None

    def load(self, wanted: str) -> types.ModuleType:
        """The student's module, or an ImportError saying why it is not there."""
        if self.module is None and self.error is None:
            if self._loading is not None:  # a circular import while it runs: as Python does, the partial module
                return self._loading
            self._load()
        if self.error is not None:
            raise ImportError(
                f"{wanted!r} comes from your {self.step.filename}, which could not be imported: {self.error}. "
                f"The grader's own step {self.step.id} stands in for {', '.join(self.step.api)} only",
                name=self.step.module,
                path=self.path,
            )
        return self.module

    def public_names(self) -> list[str]:
        names = set(self.step.api)
        try:
            module = self.load(wanted="*")
        except ImportError:
            return sorted(names)
        declared = getattr(module, "__all__", None)
        if declared is not None:
            return sorted(names | {str(n) for n in declared})
        return sorted(names | {n for n in vars(module) if not n.startswith("_")})

    def _load(self):
        if self.path is None:
            self.error = f"{self.step.filename} was not found in the submission folder"
            return
        from . import diagnosis

        spec = importlib.util.spec_from_file_location(self.step.module, self.path)
        module = importlib.util.module_from_spec(spec)
        self._loading = module
        try:
            with _time_bound(self.load_timeout, self.step.filename):
                spec.loader.exec_module(module)
        except _TookTooLong as exc:
            self.error = str(exc)
            return
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: it is the student's file
            self.error = diagnosis.describe_exception(exc, Path(self.path).parent, self.step, during_import=True)["message"]
            return
        finally:
            self._loading = None
        for name in self.step.api:  # inside the student's module, too, the API is the reference's
            setattr(module, name, getattr(self.reference, name))
        self.module = module


class _TookTooLong(BaseException):
    """Raised in the worker's main thread when loading an earlier file takes too long."""


@contextmanager
def _time_bound(seconds: float, filename: str):
    """Interrupt the block after ``seconds`` (main thread, where SIGALRM exists;
    elsewhere the call's own time limit bounds it)."""
    if seconds <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _TookTooLong(f"{filename} did not finish importing within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
