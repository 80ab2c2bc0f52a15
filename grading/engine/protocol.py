"""The wire between the judge and a worker: length-prefixed messages over a
pipe, data-only replies, and the errors a call into a worker can raise.

Used on both sides by ``grading.engine.worker``. Requests go judge → worker
as a pickle (the judge is trusted) whose tensor storages travel as their raw
bytes (``encode_request``). Replies go worker → judge as
``torch.save`` bytes and are read with ``torch.load(weights_only=True)``, so
a reply can only ever be tensors, numbers, strings, lists and dicts, never an
object with code. Between replies a worker may send *notes* (a header with
the ``NOTE`` bit; small JSON): what its audit saw (``grading.engine.audit``).

The judge waits for a pipe with ``select`` where it works on pipes (POSIX);
on Windows the blocking read or write runs in a helper thread that the judge
waits for, and the worker is killed on a timeout, which ends that thread.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import select
import struct
import threading
import time

HEADER = struct.Struct(">Q")
MAX_REPLY = 256 << 20  # bytes; a reply claiming more is refused before it is read
NOTE = 1 << 63  # header bit of a *note*: a worker's side message (``grading.engine.audit``), not a reply
MAX_NOTE = 4096


class SandboxError(Exception):
    """A call into a worker did not return a value. ``str()`` is feedback a
    student can read; ``location`` points into the submission when known;
    ``kind`` is the fact scoring and rendering use (never the message)."""

    kind = "error"

    def __init__(self, message: str, location: dict | None = None, output: str = "", kind: str | None = None):
        super().__init__(message)
        self.location = location
        self.output = output
        if kind:
            self.kind = kind


class StudentError(SandboxError):
    """The submission's code raised an exception (at import or in a call).
    ``kind`` is "exception", "not_implemented" or "missing_file"."""

    kind = "exception"


class WorkerCrashed(SandboxError):
    """The worker process ended without replying (exit, crash, output cap)."""

    kind = "crash"


class WorkerTimeout(SandboxError):
    """The worker did not reply within the time limit and was killed."""

    kind = "timeout"


class ReplyTooLarge(Exception):
    """A reply's header claimed more than ``MAX_REPLY`` bytes."""


SELECTABLE_PIPES = os.name != "nt"  # select() takes pipes on POSIX only
_WATCH_EVERY = 0.2  # seconds between a waiting judge's looks at the worker's output (``watch``)


def binary_pipes(*fds: int):
    """Windows translates newlines on descriptors in text mode: never on ours."""
    if os.name == "nt":
        import msvcrt

        for fd in fds:
            msvcrt.setmode(fd, os.O_BINARY)


def _in_thread(job, fd: int, deadline: float, watch=None):
    """Run the blocking ``job(fd)`` in a helper thread; return its result, or
    raise its exception, or ``TimeoutError`` at the deadline. ``watch()`` is
    called now and then meanwhile and may raise to stop waiting. The thread
    works on its own duplicate of ``fd``: a thread left blocked after a
    timeout (until the killed worker's end closes) can never touch a later
    pipe that reuses the number."""
    outcome: dict = {}
    own = os.dup(fd)

    def run():
        try:
            outcome["value"] = job(own)
        except BaseException as exc:  # handed to the waiting judge
            outcome["error"] = exc
        finally:
            os.close(own)

    thread = threading.Thread(target=run, name="grading-pipe", daemon=True)
    thread.start()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        thread.join(min(remaining, _WATCH_EVERY))
        if not thread.is_alive():
            break
        if watch is not None:
            watch()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def write_message(fd: int, payload: bytes, deadline: float):
    if not SELECTABLE_PIPES:
        return _in_thread(lambda own: send_reply(own, payload), fd, deadline)
    data = memoryview(HEADER.pack(len(payload)) + payload)
    while data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        _, writable, _ = select.select([], [fd], [], remaining)
        if not writable:
            raise TimeoutError
        written = os.write(fd, data[: 1 << 16])
        data = data[written:]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, remaining_bytes = [], size
    while remaining_bytes:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                raise TimeoutError
        chunk = os.read(fd, min(remaining_bytes, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining_bytes -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, deadline: float | None, limit: int | None = None, watch=None, notes=None) -> bytes:
    """One message; ``TimeoutError`` at ``deadline`` (None: wait forever).
    ``watch()``, where given, is called while waiting and may raise. Notes
    met on the way (header bit ``NOTE``) go to ``notes(payload)`` as they
    arrive, so they count even if no reply follows."""
    if deadline is not None and (watch is not None or not SELECTABLE_PIPES):
        return _in_thread(lambda own: read_message(own, None, limit, notes=notes), fd, deadline, watch)
    while True:
        (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size, deadline))
        if not size & NOTE:
            break
        size &= ~NOTE
        if size > MAX_NOTE:
            raise ReplyTooLarge(size)
        payload = _read_exactly(fd, size, deadline)
        if notes is not None:
            notes(payload)
    if limit is not None and size > limit:
        raise ReplyTooLarge(size)
    return _read_exactly(fd, size, deadline)


def encode_request(request) -> bytes:
    """Judge side: ``request`` (a probe, its arguments) as a pickle. A tensor
    pickles as torch pickles it (its class, shape, strides, ``requires_grad``)
    except for its storage: torch's own reducer writes each storage as a
    whole ``torch.save`` file, several times slower to write and read than
    the storage's bytes, which are what ``_storage_from_bytes`` rebuilds."""
    import torch  # already imported by the judge; local to keep this module light

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, torch.storage.TypedStorage: _reduce_storage}
    pickler.dump(request)
    return buffer.getvalue()


def _reduce_storage(storage):
    import torch

    untyped = storage._untyped_storage  # as torch's own reducers reach it (the public accessors warn)
    if untyped.device.type != "cpu":
        return storage.__reduce__()
    as_bytes = torch.empty(0, dtype=torch.uint8).set_(untyped)  # a view, no copy (bytes() would read byte by byte)
    return _storage_from_bytes, (as_bytes.numpy().tobytes(), storage.dtype)


def _storage_from_bytes(data: bytes, dtype):
    """Worker side: a storage of ``dtype`` holding a copy of ``data``."""
    import torch

    untyped = torch.UntypedStorage.from_buffer(data, dtype=torch.uint8)
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def encode_reply(reply: dict, describe_failure) -> bytes:
    """Worker side: ``reply`` as ``torch.save`` bytes; a value that cannot be
    saved as plain data becomes an error reply (``describe_failure(exc)``)."""
    import torch

    buffer = io.BytesIO()
    try:
        torch.save(reply, buffer)
    except BaseException as exc:
        buffer = io.BytesIO()
        error = describe_failure(exc)
        error["message"] = f"the result could not be sent back as plain data: {error['message']}"
        torch.save({"ok": False, "error": error}, buffer)
    return buffer.getvalue()


def send_reply(fd: int, payload: bytes):
    os.write(fd, HEADER.pack(len(payload)))
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def decode_reply(reply: bytes, output: str):
    """Judge side: the value of a reply, or the ``StudentError`` it carries."""
    import torch  # already imported by the judge; local to keep this module light

    try:
        message = torch.load(io.BytesIO(reply), weights_only=True)
        ok = message["ok"]
    except Exception as exc:  # a reply that is not plain data is refused
        raise SandboxError(f"the worker's reply could not be read as plain data ({type(exc).__name__})")
    if ok:
        return message["value"]
    err = message["error"]
    raise StudentError(err["message"], err.get("location"), output, err.get("kind") or "exception")
