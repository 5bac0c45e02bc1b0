"""Running a render in a child process bounded in time and memory.

A render is untrusted work: a template can ask for more pages, images or loops than a worker
should give it, and the layout libraries (Pango, Cairo, GLib) do not fail gracefully when memory
runs out — they abort the whole process. So each render runs in a child forked for it: the child
gets plain data (the context, the source, the company's assets; it opens no connection and no
file of its own), lowers its address-space limit (``setrlimit(RLIMIT_AS)``: it may grow by the
given number of megabytes beyond what it inherited) and writes its pickled outcome to a pipe.
The parent waits at most the given time, then kills it. Whatever happens to the child — an
error of the template, memory exhausted, an abort inside a C library, a kill — the parent gets a
:class:`~saas.errors.DomainError` with a message for the template's author, and stays healthy.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from saas.errors import DomainError

#: Largest outcome a child may send back, in bytes.
MAX_OUTPUT = 64 * 1024 * 1024


class RenderStopped(DomainError):
    """The render ran out of time or memory, or its process died: 422 with a plain message."""

    status = 422


def address_space() -> int:
    """Bytes of address space this process holds now (``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def set_memory_limit(megabytes: int) -> int:
    """Let this process's address space grow by at most ``megabytes`` from now on
    (``RLIMIT_AS``); answers the limit in bytes. Measured from what the process already holds
    (the worker's code, libraries and fonts), so the bound is the render's own."""
    import resource

    limit = address_space() + megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _out_of_memory(megabytes: int) -> RenderStopped:
    return RenderStopped(
        _(
            "Rendering needed more than %(n)d MB of memory and was stopped. Simplify the "
            "template (smaller images, fewer pages) and try again.",
            n=megabytes,
        )
    )


def out_of_time(seconds: float) -> RenderStopped:
    return RenderStopped(
        _(
            "Rendering took longer than %(n)d seconds and was stopped. Simplify the template "
            "(fewer or smaller images, shorter loops) and try again.",
            n=int(seconds),
        )
    )


def _memory_behind(exc: BaseException) -> bool:
    """Whether an error was raised while handling a failed allocation: a ``MemoryError``, or
    the ``SystemError`` a C extension leaves when its allocation fails (the renderer reports
    either as a layout error)."""
    seen: set[int] = set()
    current = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if isinstance(current, (MemoryError, SystemError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _child(write_end: int, memory_mb: int, func: Callable[..., Any], args: tuple) -> None:
    status = 0
    try:
        set_memory_limit(memory_mb)
        try:
            outcome: tuple[str, Any] = ("ok", func(*args))
        except DomainError as exc:
            if _memory_behind(exc):
                outcome = ("memory", None)
            else:
                outcome = ("domain", (exc.message, exc.status, exc.field))
        except MemoryError:
            outcome = ("memory", None)
        try:
            payload = pickle.dumps(outcome)
        except MemoryError:
            payload = pickle.dumps(("memory", None))
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:
        status = 1
    finally:
        os._exit(status)  # no atexit, no finalizers: the parent's connections stay intact


def run(func: Callable[..., Any], *args: Any, seconds: float, memory_mb: int) -> Any:
    """``func(*args)`` in a forked child whose address space may grow by ``memory_mb``,
    killed after ``seconds``. A :class:`DomainError` it raises (the renderer's
    ``TemplateError``) is raised here with its message, status and field; running out of time
    or memory, or the child dying, raises :class:`RenderStopped`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(write_end, memory_mb, func, args)
    os.close(write_end)
    chunks: list[bytes] = []
    received = 0
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise out_of_time(seconds)
            ready, _w, _x = select.select([read_end], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
            if received > MAX_OUTPUT:
                raise RenderStopped(_("The rendered document is too large."))
    finally:
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if not chunks:
        # No outcome: the child died (an abort in a layout library when memory ran out, or a
        # kill from outside).
        raise _out_of_memory(memory_mb)
    try:
        kind, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's output
    except (pickle.UnpicklingError, EOFError, ValueError):
        raise _out_of_memory(memory_mb) from None  # it died while writing
    if kind == "domain":
        message, http_status, field = value
        raise DomainError(message, status=http_status, field=field)
    if kind == "memory":
        raise _out_of_memory(memory_mb)
    return value
