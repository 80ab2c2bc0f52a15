"""The wire between the judge and a worker: length-prefixed messages over a
pipe, data-only replies, and the errors a call into a worker can raise.

Used on both sides by ``grading.engine.worker``. Messages are pickles whose
tensors travel as their storages' raw bytes (``_TensorPickler``). Requests go
judge → worker (the judge is trusted); replies go worker → judge and are read
by an unpickler that may name only the constructors of plain data
(``_PlainDataUnpickler``), so a reply can only ever be tensors, numbers,
strings, lists and dicts, never an object with code. Between replies a
worker may send *notes* (a header with the ``NOTE`` bit; small JSON): what
its audit saw (``grading.engine.audit``).

The judge waits for a pipe with ``select`` where it works on pipes (POSIX);
on Windows the blocking read or write runs in a helper thread that the judge
waits for, and the worker is killed on a timeout, which ends that thread.
"""

from __future__ import annotations

import collections
import functools
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
    """Judge side: ``request`` (a probe, its arguments) as a pickle, its
    tensors as ``_TensorPickler`` writes them."""
    return _pickle(request)


def encode_reply(reply: dict, describe_failure) -> bytes:
    """Worker side: ``reply`` pickled as requests are; a value that cannot be
    pickled becomes an error reply (``describe_failure(exc)``). Whether it is
    plain data is for the judge to decide (``decode_reply``)."""
    try:
        return _pickle(reply)
    except BaseException as exc:
        error = describe_failure(exc)
        error["message"] = f"the result could not be sent back as plain data: {error['message']}"
        return _pickle({"ok": False, "error": error})


def decode_reply(reply: bytes, output: str):
    """Judge side: the value of a reply, or the ``StudentError`` it carries.
    A reply that is not plain data is refused (``_PlainDataUnpickler``)."""
    try:
        message = _PlainDataUnpickler(io.BytesIO(reply)).load()
        _check_plain(message)
        ok = message["ok"]
    except Exception as exc:
        raise SandboxError(f"the worker's reply could not be read as plain data ({type(exc).__name__})")
    if ok:
        return message["value"]
    err = message["error"]
    raise StudentError(err["message"], err.get("location"), output, err.get("kind") or "exception")


# -- tensors in pickles, both ways -----------------------------------------------------
#
# torch pickles each tensor's storage as a whole ``torch.save`` file, and
# ``torch.load(weights_only=True)`` reads replies with an unpickler written in
# Python: together about a millisecond a message, dozens of messages a
# submission. Here a tensor travels as a *persistent id* of plain values (its
# storage's raw bytes, once however many tensors view it), so that no function
# of the grader is named in a message (a worker may have lost the grader's
# modules to the submission), and replies are read by the C unpickler.


def _pickle(value) -> bytes:
    buffer = io.BytesIO()
    _TensorPickler(buffer).dump(value)
    return buffer.getvalue()


class _TensorPickler(pickle.Pickler):
    """Writes a tensor (or Parameter) as its storage's bytes, dtype, shape,
    strides, offset, ``requires_grad`` and whether it is a Parameter; the
    bytes object is the same for every tensor of one storage, so the pickle
    holds it once. Any other tensor class pickles as torch pickles it, which
    the judge refuses."""

    def __init__(self, file):
        import torch

        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.storages: dict = {}
        self.tensor_types = (torch.Tensor, torch.nn.Parameter)  # asked of every object pickled: kept at hand

    def persistent_id(self, obj):
        if type(obj) not in self.tensor_types:
            return None
        import torch

        if obj.layout != torch.strided or obj.is_quantized:
            return None
        tensor = obj.detach().resolve_conj().resolve_neg()
        layout = (str(tensor.dtype), tuple(tensor.shape), tensor.stride(), tensor.storage_offset(), obj.requires_grad, type(obj) is torch.nn.Parameter)
        if tensor.is_meta:
            return ("tensor", None, *layout)
        untyped = tensor.cpu().untyped_storage()
        key = (untyped.data_ptr(), untyped.nbytes())
        if key not in self.storages:
            as_bytes = torch.empty(0, dtype=torch.uint8).set_(untyped)  # a view: bytes(storage) would read byte by byte
            self.storages[key] = as_bytes.numpy().tobytes()
        return ("tensor", self.storages[key], *layout)


class TensorUnpickler(pickle.Unpickler):
    """Reads what ``_TensorPickler`` wrote: each storage's bytes become one
    storage, shared by its tensors. A tensor must lie inside its storage."""

    def __init__(self, file):
        super().__init__(file)
        self.storages: dict = {}  # id of a bytes object -> (the bytes, kept alive; its storage)

    def persistent_load(self, pid):
        import torch

        kind, data, dtype, shape, stride, offset, requires_grad, parameter = pid
        dtype = _dtypes()[dtype]
        if kind != "tensor" or len(shape) != len(stride):
            raise pickle.UnpicklingError("not a tensor")
        if data is None:
            tensor = torch.empty_strided(shape, stride, dtype=dtype, device="meta")
        else:
            storage = self._storage(data)
            extent = offset + sum((size - 1) * step for size, step in zip(shape, stride)) + 1 if all(shape) else 0
            if offset < 0 or min(stride, default=0) < 0 or extent * dtype.itemsize > storage.nbytes():
                raise pickle.UnpicklingError("a tensor outside its storage")  # set_ would enlarge the storage
            tensor = torch.empty(0, dtype=dtype).set_(storage, offset, shape, stride)
        if parameter:
            return torch.nn.Parameter(tensor, requires_grad=bool(requires_grad))
        return tensor.requires_grad_(bool(requires_grad))

    def _storage(self, data: bytes):
        import torch

        if type(data) is not bytes:
            raise pickle.UnpicklingError("a storage is made of bytes")
        if id(data) not in self.storages:
            storage = torch.UntypedStorage.from_buffer(data, dtype=torch.uint8) if data else torch.UntypedStorage(0)
            self.storages[id(data)] = (data, storage)
        return self.storages[id(data)][1]


@functools.cache
def _dtypes() -> dict:
    """torch's dtypes by name (``"torch.float32"``)."""
    import torch

    return {str(value): value for value in vars(torch).values() if isinstance(value, torch.dtype)}


@functools.cache
def _plain_data_constructors() -> dict:
    """What a reply may name, besides its tensors: torch's dtypes,
    ``torch.Size``, ``torch.device``, ``OrderedDict`` (a state dict) and two
    builtins; what ``torch.load(weights_only=True)`` accepts of plain data."""
    import torch

    allowed = {
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "complex"): complex,
        ("builtins", "slice"): slice,
    }
    allowed.update((("torch", name.removeprefix("torch.")), dtype) for name, dtype in _dtypes().items())
    return allowed


class _PlainDataUnpickler(TensorUnpickler):
    """The judge's reader of replies: a pickle may name only the constructors
    above; a function, or a class of the submission's, is refused."""

    def find_class(self, module, name):
        try:
            return _plain_data_constructors()[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not plain data") from None


def _check_plain(message):
    """Nothing in a decoded reply carries attributes or hooks of its own
    (a pickle can set them on the objects it builds)."""
    import torch

    def walk(value, depth):
        if depth > 100:
            raise pickle.UnpicklingError("nested too deeply")
        if isinstance(value, torch.Tensor):
            if value._backward_hooks or vars(value):
                raise pickle.UnpicklingError("a tensor with attributes")
        elif isinstance(value, dict):
            if type(value) is not dict and vars(value):
                raise pickle.UnpicklingError("a dictionary with attributes")
            for key, item in value.items():
                walk(key, depth + 1)
                walk(item, depth + 1)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item, depth + 1)

    walk(message, 0)


def send_reply(fd: int, payload: bytes):
    os.write(fd, HEADER.pack(len(payload)))
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
