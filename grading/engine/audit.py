"""What a submission's code reaches while it runs, reported to the judge as
facts that become integrity flags.

Worker side: ``install`` (called by ``grading.engine.worker.worker_main``
after the lock and the prerequisites, before the step is imported) starts
the recording; ``Recorder.after_import`` and ``Recorder.after_call`` run
after the step's import and after each probe (neither ever raises). Judge side: a ``Listener``
per ``Worker`` turns what arrives into flags (``{kind, file, line,
detail}``, as ``grading.integrity`` has them).

What is recorded, always attributed to the innermost frame of the
submission's own files (the grader's code calling transformers, or reading
its own files, is never the student's doing):

* ``runtime-import``: the submission reaches ``transformers``, the grader's
  ``grading`` package, its checks (``tests``) or ``solutions``, however the
  import is written (``importlib.import_module("trans" + "formers")``,
  ``__import__``, ``from … import``). Modules the judge had already loaded
  are taken out of ``sys.modules`` in the worker (a meta-path finder hands
  the very same objects back on import), so every import of them is seen;
  a scan of the submission's modules catches references reached without an
  import (class bases, globals), and a global torch hook catches a
  transformers module being built into the submission's model.
* ``grader-read`` / ``read-outside``: an ``open`` (or a listing) of the
  grader's files, of another process's ``/proc`` entries, or of anything
  outside the folders a worker may read (``confinement.read_roots``), seen
  by an audit hook (``sys.addaudithook``: it cannot be removed) before the
  kernel refuses it, so the attempt is flagged even where reads are not
  confined.
* ``audit-tamper``: the recording was interfered with: its classes or
  finder changed or removed, its torch hook cleared, the interpreter's live
  objects searched (``gc.get_objects``), or its heartbeat missing (the
  worker raises one through ``sys.audit`` before each reply, and the hook
  answers it; a reply without one means ``sys.audit``, the hook or its
  channel was disabled).

Records travel at once as *notes* on the reply pipe (``protocol.NOTE``
frames), so nothing kept in the worker can be cleared, and a worker that
dies right after a record still delivered it. Scores never change for a
flag.
"""

from __future__ import annotations

import importlib
import io
import itertools
import json
import os
import sys
import threading
from importlib.machinery import ModuleSpec
from pathlib import Path

from ..config import GRADER_ROOT, STEPS
from . import confinement, protocol

WATCHED = {
    "transformers": "used transformers ({name}) at run time",
    "grading": "used the grader's own package ({name}) at run time",
    "tests": "used the grader's checks ({name}) at run time",
    "solutions": "tried to import the reference solutions ({name})",
}
KINDS = ("runtime-import", "grader-read", "read-outside", "audit-tamper")
_MAX_FLAGS = 40  # per worker; each distinct finding once
_PER_KIND = {"grader-read": 8, "read-outside": 3}  # then one line for the rest
_NOTE_BUDGET = 48 << 10  # bytes of flag notes per worker: they never fill the pipe
_NOTE_SIZE = 2048  # one note, well under PIPE_BUF and protocol.MAX_NOTE
_BEAT = "grading.audit.beat"
_PROC_LINKS = {"cwd", "root", "fd", "environ", "mem", "map_files", "exe"}
_DISPLAY = (os.sep + "traceback.py", os.sep + "warnings.py")  # showing source lines is not reading the answers
_THIS = __file__


def _prefix(path) -> str:
    return os.path.join(os.path.realpath(path), "")


_GRADER_ROOT = _prefix(GRADER_ROOT)
_GRADER_CODE = (_prefix(GRADER_ROOT / "grading"), _prefix(GRADER_ROOT / "tests"))  # the grader's own code: never the student's doing


# --------------------------------------------------------------------------
# Worker side


class Recorder:
    """The worker's recording: one per worker process."""

    def __init__(self, fd: int, submission: Path, step, roots: list[Path]):
        self.fd = fd
        self.step = step
        self.submission = _prefix(submission)
        self.grader_root, self.grader_code = _GRADER_ROOT, _GRADER_CODE
        self.roots = tuple(os.path.join(r, "") for r in roots)  # read_roots gives real paths
        self.judge_cwd = str(GRADER_ROOT)  # the judge runs there (``judge.run_judge``)
        self.judge_pid = os.getppid()
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.sent = 0
        self.seen: set = set()
        self.per_kind: dict[str, int] = {}
        self.beats = 0
        self.stash: dict = {}  # name -> module (or None: hidden) taken out of sys.modules
        self.restored: list[str] = []
        # the earlier steps' references: the prerequisites a step is graded on, legitimate however they are installed
        self.references = {f"grading.reference.{s.module}" for s in STEPS if s.id < step.id}
        try:  # the names the submission's own modules can have: its files and packages
            self.own_names = sorted({entry.partition(".")[0] for entry in os.listdir(submission) if entry.isidentifier() or entry.endswith(".py")})
        except OSError:
            self.own_names = [s.module for s in STEPS]
        self.scanned: dict[str, int] = {}
        self.finder = _Finder(self)
        self.module_hook = None
        self._write = os.write  # bound now: patching os.write later changes nothing here

    # -- the channel -----------------------------------------------------------

    def note(self, message: dict, always: bool = False) -> None:
        payload = json.dumps(message).encode()
        if len(payload) > _NOTE_SIZE or (not always and self.sent + len(payload) > _NOTE_BUDGET):
            return
        if not self.lock.acquire(timeout=1.0):  # a fork taken while another thread held it
            return
        try:
            self.sent += 0 if always else len(payload)
            self._write(self.fd, protocol.HEADER.pack(protocol.NOTE | len(payload)) + payload)
        except OSError:
            pass
        finally:
            self.lock.release()

    def send_reply(self, payload: bytes) -> None:
        """The worker's reply, never interleaved with a note from another thread."""
        with self.lock:
            protocol.send_reply(self.fd, payload)

    def flag(self, kind: str, where, detail: str, key=None) -> None:
        key = key or (kind, where[0], detail)
        if key in self.seen or len(self.seen) >= _MAX_FLAGS:
            return
        count = self.per_kind[kind] = self.per_kind.get(kind, 0) + 1
        if count > _PER_KIND.get(kind, _MAX_FLAGS):
            if count > _PER_KIND[kind] + 1:
                return
            key, detail = (kind, "more"), f"and more attempts like these ({kind}), not listed"  # a hunt through a thousand paths reads as one
        self.seen.add(key)
        self.note({"flag": {"kind": kind, "file": where[0], "line": where[1], "detail": detail}})

    # -- whose doing -------------------------------------------------------------

    def culprit(self, frame):
        """(file, line) of the innermost submission frame behind ``frame``, or
        None when the grader's own code (or no submission code) is behind it."""
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(self.submission):
                return name[len(self.submission) :], frame.f_lineno
            if name.startswith(self.grader_code) and name != _THIS:
                return None
            if name.endswith(_DISPLAY):
                return None
            frame = frame.f_back
        return None

    # -- events ------------------------------------------------------------------

    def imported(self, name: str, frame) -> None:
        top = name.partition(".")[0]
        if top not in WATCHED or name in self.references:
            return
        where = self.culprit(frame)
        if where is not None:
            name = _requested(name, frame)
            self.flag("runtime-import", where, WATCHED[top].format(name=name), key=("runtime-import", where[0], top))

    def opened(self, path, mode, frame, verb="read") -> None:
        if isinstance(path, int) or path is None:
            return
        try:
            path = os.fsdecode(path)
        except (TypeError, ValueError):
            return
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        if isinstance(mode, int):  # os.open's flags
            writing = bool(mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        verb = "write" if writing else verb
        found = self.classify(path)
        if found is None:
            return
        kind, what = found[0], found[1][:240]
        if writing and kind != "grader-read":
            return  # writes outside the temp folder are refused anyway; only the grader's files are worth a flag
        where = self.culprit(frame)
        if where is None:
            return
        if kind == "grader-read":
            detail = f"tried to {verb} the grader's file {what}"
        elif what.startswith("/proc/"):
            detail = f"tried to {verb} another process's files: {what}"
        else:
            detail = f"tried to {verb} {what}, outside the folders a worker may read"
        self.flag("grader-read" if kind == "grader-read" else "read-outside", where, detail)

    def classify(self, path: str):
        """("grader-read", relative path) for the grader's files,
        ("read-outside", path) for what a worker may not read, else None."""
        absolute = os.path.join(os.getcwd(), path)
        parts = os.path.normpath(absolute).split(os.sep)
        if len(parts) > 3 and parts[1] == "proc" and parts[2] not in ("self", "thread-self", str(self.pid)):
            if parts[3] not in _PROC_LINKS:
                return None
            if parts[2] == str(self.judge_pid) and parts[3] in ("cwd", "root"):
                base = self.judge_cwd if parts[3] == "cwd" else os.sep
                mapped = self.classify(os.path.join(base, *parts[4:]))
                return mapped or ("read-outside", absolute)
            return "read-outside", absolute
        real = os.path.realpath(absolute)
        inside = os.path.join(real, "")
        if inside.startswith(self.roots):
            return None
        if inside.startswith(self.grader_root):
            return "grader-read", os.path.relpath(real, self.grader_root)
        return "read-outside", real

    # -- hiding what the judge had loaded -------------------------------------------

    def loads(self, request: bytes):
        """Unpickle a request from the judge (trusted); its probe's module
        is taken from the stash directly, so a submission that took the
        finder away cannot make the worker lose its probes."""
        return _Unpickler(io.BytesIO(request), self.stash).load()

    def stash_watched(self, names=None) -> None:
        """Take the watched modules out of ``sys.modules`` (all of them, or
        ``names``), so that importing one goes through ``_Finder``."""
        modules = sys.modules
        if names is None:
            names = _JUDGE_WATCHED if _JUDGE_WATCHED is not None else watched_names()
        for name in names:
            if name in modules and name.partition(".")[0] in WATCHED:
                self.stash[name] = modules.pop(name)

    # -- after the import and after each call -------------------------------------

    def after_import(self) -> None:
        """Hide again what was imported, and scan the submission's modules."""
        try:
            self.stash_watched(self.restored)
            self.restored.clear()
            self.scan()
        except Exception:  # a submission that broke the recording is flagged by the heartbeat's check
            pass

    def after_call(self) -> None:
        """After each probe: ``after_import``, then raise the heartbeat the
        judge expects before the reply (the audit hook answers it, with
        anything of the recording found tampered with)."""
        self.after_import()
        self.beats += 1
        try:
            sys.audit(_BEAT, self.beats)  # through whatever sys.audit is now: a replaced one sends no heartbeat
        except Exception:  # one that raises sends none either, and the reply still goes
            pass

    def scan(self) -> None:
        """References to watched objects in the submission's modules (their
        globals, their classes' bases and attributes), however they were
        reached: the ``import`` events only see imports."""
        for name in self.own_names:
            module = sys.modules.get(name)
            path = getattr(module, "__file__", None) or ""
            if not path.startswith(self.submission):
                continue  # not imported, or a reference prerequisite standing in for it
            namespace = getattr(module, "__dict__", {})
            if self.scanned.get(name) == len(namespace):
                continue
            self.scanned[name] = len(namespace)
            where = (path[len(self.submission) :], 0)
            for key, value in list(namespace.items()):
                if not key.startswith("__"):
                    self._check(value, where, name, depth=0)

    def _check(self, value, where, home: str, depth: int) -> None:
        try:
            origin = self._origin(value)
        except Exception:  # an object that fights inspection tells nothing
            return
        if origin is not None:
            top = origin.rpartition(" from ")[2].partition(".")[0]
            self.flag("runtime-import", where, WATCHED[top].format(name=origin), key=("runtime-import", where[0], top))
        elif depth == 0 and isinstance(value, type) and value.__module__ == home:
            for key, attribute in list(vars(value).items()):  # a class's own attributes, one level down
                if not key.startswith("__"):
                    self._check(attribute, where, home, depth=1)

    def _watched(self, module) -> bool:
        """Whether ``module`` (a name) is one the submission should not reach:
        a reference prerequisite of an earlier step is not."""
        return isinstance(module, str) and module.partition(".")[0] in WATCHED and module not in self.references

    def _origin(self, value) -> str | None:
        """The watched module behind ``value`` ("GPT2Attention from
        transformers.models.gpt2.modeling_gpt2"), or None."""
        if isinstance(value, type(sys)):
            return value.__name__ if self._watched(value.__name__) else None
        if callable(value) and not isinstance(value, type):
            module = getattr(value, "__module__", None)
            if self._watched(module):
                return f"{getattr(value, '__qualname__', '?')} from {module}"
        for cls in value.__mro__ if isinstance(value, type) else type(value).__mro__:
            if self._watched(cls.__module__):
                return f"{cls.__qualname__} from {cls.__module__}"
        return None

    # -- transformers modules called from the submission ---------------------------

    def watch_modules(self) -> None:
        """A global torch hook on submodule registration: a transformers
        module built into the submission's model (``self.attn =
        GPT2Attention(...)``, or one whose own parts are transformers') is
        seen as it is built, however the class was reached. Registration
        only, so calls to the model cost nothing more."""
        import torch

        culprit, flag = self.culprit, self.flag  # bound now

        def registered(module, name, submodule):
            try:
                cls = type(submodule)
                if cls.__module__.startswith("transformers"):
                    where = culprit(sys._getframe(1))
                    if where is not None:
                        origin = f"{cls.__qualname__} from {cls.__module__}"
                        flag("runtime-import", where, WATCHED["transformers"].format(name=origin), key=("runtime-import", where[0], "transformers"))
            except Exception:
                pass
            return None

        self.module_hook = torch.nn.modules.module.register_module_module_registration_hook(registered)


def _requested(name: str, frame) -> str:
    """The whole name an import asked for: importing ``a.b.c`` imports
    ``a`` first, and the import machinery's frames still hold ``a.b.c``."""
    while frame is not None and frame.f_code.co_filename.startswith(("<frozen importlib", _IMPORTLIB)):
        asked = frame.f_locals.get("name")
        if isinstance(asked, str) and asked.startswith(name) and len(asked) > len(name):
            name = asked
        frame = frame.f_back
    return name


_IMPORTLIB = os.path.dirname(importlib.__file__)


def _global_module_hooks():
    module = sys.modules.get("torch.nn.modules.module")
    return getattr(module, "_global_module_registration_hooks", None)


class _Unpickler(protocol.TensorUnpickler):
    def __init__(self, file, stash):
        super().__init__(file)
        self.stash = stash

    def find_class(self, module, name):
        if module not in sys.modules and self.stash.get(module) is not None:
            found = self.stash[module]
            for part in name.split("."):
                found = getattr(found, part)
            return found
        return super().find_class(module, name)


class _Restore:
    """Hands back a module the judge had loaded: the same object, not a copy."""

    def __init__(self, module):
        self.module = module
        self.spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        if self.spec is not None:
            module.__spec__ = self.spec


class _Finder:
    """First on ``sys.meta_path``: sees every import of a watched module that
    is not in ``sys.modules`` (every one, once they are stashed), records it
    and hands the stashed module back."""

    def __init__(self, recorder: Recorder):
        self._recorder = recorder

    def find_spec(self, name, path=None, target=None):
        recorder = self._recorder
        if name.partition(".")[0] not in WATCHED:
            return None
        recorder.imported(name, sys._getframe(1))
        recorder.restored.append(name)
        if name not in recorder.stash:
            return None  # not loaded by the judge: imported as usual, stashed after the call
        module = recorder.stash[name]
        if module is None:
            raise ModuleNotFoundError(f"import of {name} halted; None in sys.modules", name=name)
        del recorder.stash[name]
        return ModuleSpec(name, _Restore(module), is_package=hasattr(module, "__path__"))


_JUDGE_WATCHED: list[str] | None = None
_JUDGE_MODULES = 0  # len(sys.modules) when _JUDGE_WATCHED was listed


def watched_names(names=None) -> list[str]:
    """The watched modules among ``names`` (default: all loaded)."""
    return [name for name in list(sys.modules if names is None else names) if name.partition(".")[0] in WATCHED]


def prepare(submission: Path) -> None:
    """Judge side, before a worker starts: work out now what every worker
    would otherwise work out alone (touching every loaded module in a forked
    worker copies its memory): the watched modules loaded, the read roots."""
    list_watched()
    confinement.warm(submission)


def list_watched() -> None:
    """Bring the list of the watched modules loaded up to date. The zygote
    lists them once (``grading.engine.zygote``), so a judge it forks looks
    only at the modules it added itself, never touching (and so copying)
    every module it inherited."""
    global _JUDGE_WATCHED, _JUDGE_MODULES
    count = len(sys.modules)
    if _JUDGE_WATCHED is None or count < _JUDGE_MODULES:
        _JUDGE_WATCHED = watched_names()
    elif count > _JUDGE_MODULES:  # the judge only ever adds modules (in order): look at the new ones alone,
        # from the end (skipping the old ones from the start would touch every one of them)
        _JUDGE_WATCHED += reversed(watched_names(itertools.islice(reversed(sys.modules), count - _JUDGE_MODULES)))
    _JUDGE_MODULES = count


def install(fd: int, submission: Path, step, tmp: Path) -> Recorder:
    """Start recording in this worker; send the judge a hello (a new worker
    process: its heartbeats count from one). Call after the prerequisites
    are in place and before the step is imported."""
    recorder = Recorder(fd, submission, step, confinement.read_roots(submission, tmp))
    recorder.stash_watched()
    recorder.stash_watched([f"grading.reference.{s.module}" for s in STEPS] + ["solutions"])  # hidden answers' None entries
    sys.meta_path.insert(0, recorder.finder)
    recorder.watch_modules()

    hook = _hook(recorder)
    sys.addaudithook(hook)
    recorder.note({"hello": recorder.pid}, always=True)
    return recorder


_GUARDED = ("note", "flag", "culprit", "imported", "opened", "classify", "stash_watched", "after_import", "after_call", "scan")
_INTROSPECTION = {"gc.get_objects", "gc.get_referrers", "gc.get_referents"}


def _hook(recorder: Recorder):
    """The audit hook: a closure over the recording as it is now, so
    patching the classes, the instance or ``os`` later does not silence it.
    On each heartbeat it checks the recording is intact and says so."""
    imported, opened, culprit = recorder.imported, recorder.opened, recorder.culprit
    fd, lock, write, pack, dumps = recorder.fd, recorder.lock, os.write, protocol.HEADER.pack, json.dumps
    originals = {name: Recorder.__dict__[name] for name in _GUARDED}
    find_spec, finder, module_hook = _Finder.__dict__["find_spec"], recorder.finder, recorder.module_hook
    guarded = {id(f) for f in (Recorder, _Finder, find_spec, *originals.values())}
    said = set()

    def send(message):
        payload = dumps(message).encode()
        if len(payload) <= _NOTE_SIZE and lock.acquire(timeout=1.0):
            try:
                write(fd, pack(protocol.NOTE | len(payload)) + payload)
            except OSError:
                pass
            finally:
                lock.release()

    def tampered():
        for name, function in originals.items():
            if Recorder.__dict__.get(name) is not function or name in vars(recorder):
                return f"replaced part of the grader's audit ({name})"
        if _Finder.__dict__.get("find_spec") is not find_spec or "find_spec" in vars(finder):
            return "replaced the grader's import audit"
        if finder not in sys.meta_path:
            sys.meta_path.insert(0, finder)
            return "removed the grader's import audit from sys.meta_path"
        hooks = _global_module_hooks()
        if hooks is not None and module_hook is not None and module_hook.id not in hooks:
            return "removed the grader's audit of transformers modules (a torch hook)"
        return ""

    def tamper(detail, frame):
        if detail in said:
            return
        said.add(detail)
        where = culprit(frame) or (recorder.step.filename, 0)
        send({"flag": {"kind": "audit-tamper", "file": where[0], "line": where[1], "detail": detail}})

    def hook(event, args):
        try:
            if event == "open":
                opened(args[0], args[1] if args[1] is not None else args[2], sys._getframe(1))
            elif event in ("os.listdir", "os.scandir"):
                frame = sys._getframe(1)
                if not frame.f_code.co_filename.startswith("<frozen importlib"):  # the path finder's own listing
                    opened(args[0], "r", frame, verb="list")
            elif event == "import":
                imported(args[0], sys._getframe(1))
            elif event == _BEAT:
                detail = tampered()
                if detail:
                    tamper(detail, None)
                send({"beat": args[0]})
            elif event in ("object.__setattr__", "object.__delattr__") and (id(args[0]) in guarded or args[0] is hook):
                tamper(f"changed the grader's audit ({getattr(args[0], '__qualname__', '?')}.{args[1]})", sys._getframe(1))
            elif event in _INTROSPECTION:
                frame = sys._getframe(1)
                if culprit(frame) is not None:
                    tamper(f"looked through the interpreter's live objects ({event}), a way to reach the grader's audit", frame)
        except Exception:
            pass

    return hook


# --------------------------------------------------------------------------
# Judge side


class Listener:
    """What one step's worker reported: its integrity flags."""

    def __init__(self, step):
        self.step = step
        self.flags: list[dict] = []
        self._keys: set = set()
        self._beat = 0
        self._replies = 0
        self._silenced = False
        self.new_flags: list[dict] = []
        self.imported = False  # the current process said it had imported its step

    def take(self, payload: bytes) -> None:
        """One note from the worker (``protocol.read_message``'s ``notes``)."""
        try:
            note = json.loads(payload)
        except ValueError:
            return
        if not isinstance(note, dict):
            return
        if isinstance(note.get("beat"), int):
            self._beat = max(self._beat, note["beat"])
        if "hello" in note:  # a (new) worker process: its heartbeats count from 1
            self._beat = self._replies = 0
            self.imported = False
        if note.get("imported") is True:
            self.imported = True
        flag = note.get("flag")
        if isinstance(flag, dict):
            self.add(flag)

    def add(self, flag: dict) -> None:
        kind, file, line, detail = flag.get("kind"), flag.get("file"), flag.get("line", 0), flag.get("detail")
        if kind not in KINDS or not isinstance(file, str) or not isinstance(detail, str) or not isinstance(line, int):
            return
        key = (kind, file, detail)
        if key in self._keys or len(self.flags) >= _MAX_FLAGS:
            return
        self._keys.add(key)
        item = {"kind": kind, "file": file[:200], "line": line, "detail": detail[:300]}
        self.flags.append(item)
        self.new_flags.append(item)

    def replied(self) -> None:
        """A reply arrived: its heartbeat must have come before it."""
        self._replies += 1
        if self._beat < self._replies and not self._silenced:
            self._silenced = True
            self.add({
                "kind": "audit-tamper",
                "file": self.step.filename,
                "line": 0,
                "detail": "the grader's audit stopped reporting while this step ran (its hook or its channel was disabled)",
            })

    def take_new(self) -> list[dict]:
        """The flags not handed on yet."""
        news, self.new_flags = self.new_flags, []
        return news
