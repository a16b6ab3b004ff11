"""Structured logs: one JSON object per line on stderr (stdlib ``logging`` only).

Every request is logged once by :class:`AccessLog` with its method, route, status,
duration, request id (``X-Request-ID``, generated when absent and echoed back) and
the caller's role and staff id. Tokens, bodies and personal data are never logged.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import itertools
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casestore.logs import JsonFormatter, level_of

#: The request id of the request being served (set by :class:`AccessLog`, read by the
#: problem responses and the error log).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "casestore_request_id", default=None
)
#: A caller's ``X-Request-ID`` is kept only if it is this short and plain.
_GOOD_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")

access_log = logging.getLogger("casestore.api.access")


def configure_logging(level: str | int = logging.INFO) -> BatchedLines:
    """Send ``casestore.*`` and uvicorn's error log to stderr as JSON lines.

    The access log (a line per request) is held in memory and written by a thread of its
    own in batches (:class:`BatchedLines`), so a request never waits for a write to stderr
    nor wakes a thread; it drains while the server shuts down gracefully. Everything else
    is written at once (uvicorn re-raises SIGTERM after its shutdown, and a held line
    would die with it). Stop the returned writer at exit to flush what is still held.
    """
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter())
    for name in ("casestore", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [stream]
        logger.setLevel(level_of(level))
        logger.propagate = False
    # The lines are JsonFormatter's (time, level, logger, message, extras): the caller's
    # file and line, thread and process a record would otherwise look up each time are
    # never written (the logging HOWTO's "Optimization" switches; ~4 % of the event
    # loop's time went to building the access log's records).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    writer = BatchedLines(stream)
    access_log.handlers[:] = [writer]
    access_log.propagate = False
    writer.start()
    return writer


class BatchedLines(logging.Handler):
    """Records held in memory and written by a thread of its own every ``interval``
    seconds, all the lines of a batch in one write.

    ``emit`` appends to a deque and wakes nobody: a queue handing each record to a
    listener thread cost a thread wake-up (and the GIL hand-over that follows) per
    request, about 5 % of the event loop's time on served commands, plus a write and a
    flush per line. ``target`` formats the records (its formatter) and owns the stream.
    """

    def __init__(self, target: logging.StreamHandler, interval: float = 0.05) -> None:  # type: ignore[type-arg]
        super().__init__()
        self.target = target
        self.interval = interval
        self._held: collections.deque[logging.LogRecord] = collections.deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: deque.append is atomic, and the record is formatted later.
        if not self.filter(record):
            return False
        if record.exc_info:  # the traceback cannot cross threads lazily: render it now
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self._held.append(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is held and stop the thread (idempotent)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        """Format and write every held record now, in one write."""
        lines: list[str] = []
        while True:
            try:
                record = self._held.popleft()
            except IndexError:
                break
            try:
                lines.append(self.target.format(record) + self.target.terminator)
            except Exception:
                self.target.handleError(record)
        if not lines:
            return
        with self.target.lock or contextlib.nullcontext():  # lines of other loggers
            try:
                self.target.stream.write("".join(lines))
                self.target.stream.flush()
            except Exception:
                self.target.handleError(record)


#: Request ids: a random per-process prefix and a counter (uuid4 per request costs an
#: urandom system call, measurable under load).
_PREFIX = secrets.token_hex(6)
_COUNTER = itertools.count(1)

#: (method, route template, status, seconds) -> None
Observer = Callable[[str, str, int, float], None]


class AccessLog:
    """ASGI middleware: request id, one access-log line and the HTTP metrics per request."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_id = headers.get(b"x-request-id", b"")
        good = raw_id and _GOOD_ID.match(raw_id)
        request_id = raw_id.decode("ascii") if good else f"{_PREFIX}-{next(_COUNTER):x}"
        scope.setdefault("state", {})["request_id"] = request_id
        REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            state = scope.get("state", {})
            actor = state.get("actor")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                    "role": getattr(actor, "role", None),
                    "staff_id": getattr(actor, "staff_id", None) or state.get("staff_id"),
                },
            )
            if self.observe is not None:
                self.observe(scope["method"], template, status, elapsed)
