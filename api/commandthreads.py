"""Commands off the event loop: one hand-off per command to a thread pool of its own.

The write side is synchronous, so a command runs in a thread. Starlette's
``run_in_threadpool`` goes through anyio: a capacity limiter acquired with a checkpoint
(an extra turn of the event loop), a cancel scope, the task tree looked up, a worker
queue; ~12 % of the event loop's samples on a served command under
``casestore.bench.edge`` (py-spy ``--gil``), for one hand-off. :func:`in_command_thread`
hands the call to a ``ThreadPoolExecutor`` (``loop.run_in_executor``, a C queue and one
``call_soon_threadsafe`` back), in a copy of the caller's context as anyio does (the
request id, a trace's span). :data:`COMMAND_THREADS` threads at most, as many as anyio's
default limiter gives all routes together; other routes keep ``run_in_threadpool``.

Unlike anyio's hand-off, a cancelled request (only at shutdown: uvicorn does not cancel
a request whose client went away) stops waiting at once; its command runs to its end in
the pool either way, and the pool's threads are joined when the process exits.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

T = TypeVar("T")

COMMAND_THREADS: Final = 40
_POOL = ThreadPoolExecutor(max_workers=COMMAND_THREADS, thread_name_prefix="casestore-command")


async def in_command_thread(call: Callable[..., T], *args: object) -> T:
    """``call(*args)`` in a command thread, in a copy of the current context."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(context.run, call, *args))
