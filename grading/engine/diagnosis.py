"""Plain-words accounts of what went wrong in a worker, for a student.

Used by ``grading.engine.worker``: inside the worker, ``describe_exception``
turns an exception into plain data (its kind, message and the innermost
frame of the submission); in the judge, ``death_message`` and
``location_from_stack_dump`` explain a worker that crashed or hung.
"""

from __future__ import annotations

import ast
import signal
import traceback
from pathlib import Path

from ..config import Step

_SIGNAL_NAMES = {
    getattr(signal, name): words
    for name, words in (
        ("SIGSEGV", "segmentation fault"),
        ("SIGABRT", "aborted"),
        ("SIGKILL", "killed, perhaps for using too much memory"),
        ("SIGBUS", "bus error"),
        ("SIGFPE", "floating-point exception"),
        ("SIGILL", "illegal instruction"),
    )
    if hasattr(signal, name)  # Windows has no SIGKILL or SIGBUS
}
# How Windows reports the same crashes: the process's exit code is an NTSTATUS.
_WINDOWS_CRASHES = {
    0xC0000005: "segmentation fault",  # STATUS_ACCESS_VIOLATION
    0xC00000FD: "stack overflow",  # STATUS_STACK_OVERFLOW
    0xC0000409: "aborted",  # STATUS_STACK_BUFFER_OVERRUN, what abort() ends in
    0xC000001D: "illegal instruction",
    0xC0000094: "integer division by zero",
    0xC0000017: "out of memory",  # STATUS_NO_MEMORY
}


def head_and_tail(text: str, keep: int = 1500) -> str:
    """The start and end of a long output, with the middle cut out."""
    if len(text) <= 2 * keep:
        return text
    cut = len(text) - 2 * keep
    return f"{text[:keep]}\n… [{cut} characters cut] …\n{text[-keep:]}"


def read_text(path: Path, limit: int = 2_000_000) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit)
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def location_from_stack_dump(text: str, submission: Path) -> dict | None:
    """The innermost submission frame of the last faulthandler dump."""
    start = text.rfind("most recent call first")
    if start < 0:
        return None
    for line in text[start:].splitlines()[1:]:
        line = line.strip()
        if not line.startswith('File "'):
            if line.startswith("Thread") or not line:
                break
            continue
        try:
            filename = line.split('"')[1]
            rest = line.split('"', 2)[2]  # ', line 12 in forward'
            lineno = int(rest.split("line")[1].split()[0])
        except (IndexError, ValueError):
            continue
        path = Path(filename)
        if inside(path, submission):
            return {
                "file": path.name,
                "line": lineno,
                "function": qualname_at(path, lineno) or rest.split(" in ")[-1].strip(),
            }
    return None


def qualname_at(path: Path, lineno: int) -> str | None:
    """``Class.method`` for the function that holds ``lineno`` in ``path``."""
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    best = None

    def visit(node, prefix):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                end = getattr(child, "end_lineno", child.lineno)
                if child.lineno <= lineno <= end:
                    if not isinstance(child, ast.ClassDef):
                        best = name
                    visit(child, name + ".")

    visit(tree, "")
    return best


def inside(path: Path, folder: Path) -> bool:
    if not path.is_absolute():  # "<frozen importlib._bootstrap>", "<string>"
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except (ValueError, OSError):
        return False


def describe_exception(exc: BaseException, submission: Path, step: Step, during_import=False) -> dict:
    """A plain-data account of an exception: type, message, submission frame."""
    type_name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:
        text = "<the exception's message could not be read>"
    if len(text) > 2000:
        text = text[:2000] + " …"
    location = None
    if isinstance(exc, SyntaxError) and exc.filename and inside(Path(exc.filename), submission):
        location = {"file": Path(exc.filename).name, "line": exc.lineno or 0, "function": "<module>"}
        text = f"{exc.msg}: {(exc.text or '').strip()}"
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if inside(Path(frame.filename), submission):
                location = {
                    "file": Path(frame.filename).name,
                    "line": frame.lineno or 0,
                    "function": qualname_at(Path(frame.filename), frame.lineno or 0) or frame.name,
                }
                break
    missing_step = isinstance(exc, ModuleNotFoundError) and exc.name == step.module
    if missing_step:
        message = f"{step.filename} was not found in the submission folder"
    elif isinstance(exc, SystemExit):
        message = f"your code called sys.exit({text})" + (" while being imported" if during_import else "")
    else:
        message = f"{type_name}: {text}" if text else type_name
        if during_import:
            message = f"importing {step.filename} raised {message}"
    where = f" ({location['file']}, line {location['line']})" if location else ""
    return {
        "type": type_name,
        "message": message + where,
        "location": location,
        "kind": "missing_file" if missing_step else "not_implemented" if isinstance(exc, NotImplementedError) else "exception",
    }


def death_message(returncode: int | None, what: str, output_bytes: int) -> str:
    """Why a worker ended, from its return code as ``subprocess`` gives it
    (negative: killed by that signal); ``what`` names the step."""
    if returncode is None:
        return f"the process stopped answering while {what}"
    if returncode < 0:
        sig = -returncode
        if sig == getattr(signal, "SIGXFSZ", None):
            return output_cap_message(what, output_bytes)
        name = _SIGNAL_NAMES.get(sig) or (signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig))
        return f"the process crashed ({name}) while {what}"
    if returncode & 0xFFFFFFFF in _WINDOWS_CRASHES:
        return f"the process crashed ({_WINDOWS_CRASHES[returncode & 0xFFFFFFFF]}) while {what}"
    return f"the process exited (code {returncode}) while {what}"


def output_cap_message(what: str, output_bytes: int) -> str:
    """For a worker stopped by the judge for printing too much (where the
    kernel has no file-size limit to stop it)."""
    return f"the process printed more than {output_bytes // 1000} kB of output and was stopped while {what}"
